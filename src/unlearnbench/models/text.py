"""DistilBERT for multilabel provision classification (L-CODEC Fig. 7 right), via transformers.

The classifier follows the authors' ``DistilBertForMultilabelSequenceClassification``:
the ``[CLS]`` hidden state goes through ``pre_classifier`` (Linear dim->dim), ReLU,
dropout and ``classifier`` (Linear dim->labels); the attention mask is derived from the
padding id, so the model takes a single ``[N, L]`` tensor of token ids (the engine's
batches are ``(inputs, targets)``).

Two ways to get one:

- paper profile: ``distilbert-base-uncased`` weights and tokenizer from the Hugging Face
  hub (only :func:`pretrained_backbone` and :func:`pretrained_tokenizer` touch the hub,
  and only while pretraining; offline they fail with a message naming the model);
- quick profile: a small DistilBERT built from a ``DistilBertConfig`` (e.g. 2 layers) with
  a WordPiece tokenizer trained on the stand-in corpus by the ``tokenizers`` library.

A checkpoint stores the architecture config (``config`` kwargs, plain types) and the
tokenizer as its JSON string in the metadata, so runs rebuild both without the hub.

Also here: the fine-tuning recipe (AdamW without decay on biases and LayerNorm weights,
linear warm-up schedule, gradient clipping with a configurable norm type), trained by the
suite's one loop :func:`unlearnbench.training.fit`. The text analogue of input noise for
L-FOCI, token replacement, is :class:`unlearnbench.perturbations.TokenReplacement` (fed with
:meth:`TextEncoder.replacement_pool` and :meth:`TextEncoder.special_ids`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnbench.batching import eval_outputs
from unlearnbench.training import GradientClip, OptimizerSpec, SchedulerSpec

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
#: DistilBertConfig keys that define the architecture (the rest is bookkeeping).
ARCH_KEYS = (
    "vocab_size",
    "max_position_embeddings",
    "sinusoidal_pos_embds",
    "n_layers",
    "n_heads",
    "dim",
    "hidden_dim",
    "dropout",
    "attention_dropout",
    "activation",
    "initializer_range",
    "seq_classif_dropout",
    "pad_token_id",
)
MODEL_NAME = "distilbert-multilabel"


class HubUnavailableError(RuntimeError):
    """A pretrained model or tokenizer could not be loaded from the hub or its cache."""


def architecture(config: Mapping[str, Any]) -> dict[str, Any]:
    """The architectural keys of a DistilBERT config, as plain values (checkpoint-safe)."""
    unknown = sorted(set(config) - set(ARCH_KEYS))
    if unknown:
        raise ValueError(f"unknown DistilBERT config key(s) {unknown}; allowed: {', '.join(ARCH_KEYS)}")
    return {k: config[k] for k in ARCH_KEYS if k in config}


class DistilBertMultilabel(nn.Module):
    """DistilBERT encoder + the authors' two-layer head on ``[CLS]``; input: token ids only."""

    def __init__(self, n_labels: int, config: Mapping[str, Any], pad_token_id: int = 0) -> None:
        super().__init__()
        from transformers import DistilBertConfig, DistilBertModel

        if n_labels <= 0:
            raise ValueError(f"n_labels must be positive, got {n_labels}")
        # Eager attention: the Newton step differentiates twice (Hessian-vector products),
        # which the fused attention kernels do not support.
        cfg = DistilBertConfig(**architecture(config), attn_implementation="eager")
        self.pad_token_id = int(pad_token_id)
        self.distilbert = DistilBertModel(cfg)
        self.pre_classifier = nn.Linear(cfg.dim, cfg.dim)
        self.classifier = nn.Linear(cfg.dim, n_labels)
        self.dropout = nn.Dropout(cfg.seq_classif_dropout)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """The head's penultimate features of the ``[CLS]`` position."""
        mask = (ids != self.pad_token_id).long()
        hidden = self.distilbert(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]
        return self.dropout(F.relu(self.pre_classifier(hidden)))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(ids))


MODELS = {MODEL_NAME: DistilBertMultilabel}


def pretrained_backbone(model: DistilBertMultilabel, name: str, cache_dir: str | None = None) -> None:
    """Load the hub weights ``name`` into ``model.distilbert`` (the head stays freshly initialised)."""
    from transformers import DistilBertModel

    try:
        source = DistilBertModel.from_pretrained(name, cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001 - hub errors come in many types
        raise HubUnavailableError(
            f"could not load the pretrained model {name!r} ({type(exc).__name__}: {exc}); download it once with "
            "network access (Hugging Face cache), then set HF_HUB_OFFLINE=1"
        ) from exc
    missing, unexpected = model.distilbert.load_state_dict(source.state_dict(), strict=False)
    if unexpected or [m for m in missing if "position_ids" not in m]:
        raise ValueError(
            f"{name!r} does not match the configured architecture: missing {missing}, unexpected {unexpected}"
        )


def pretrained_config(name: str, cache_dir: str | None = None) -> dict[str, Any]:
    """The architecture config of a hub model (to build :class:`DistilBertMultilabel` for it)."""
    from transformers import DistilBertConfig

    try:
        cfg = DistilBertConfig.from_pretrained(name, cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001
        raise HubUnavailableError(
            f"could not load the config of {name!r} ({type(exc).__name__}: {exc})"
        ) from exc
    return {k: v for k, v in cfg.to_dict().items() if k in ARCH_KEYS}


# ---------------------------------------------------------------------------- tokenizers


def train_wordpiece(texts: Sequence[str], vocab_size: int) -> str:
    """A lower-casing BERT-style WordPiece tokenizer for ``texts``, as a JSON string.

    The vocabulary is built from the corpus with ``tokenizers``' own BERT normaliser and
    pre-tokeniser: the special tokens, every character seen (word-initial and as a
    ``##`` continuation, so any word of that alphabet can be spelled), then the most
    frequent whole words (ties broken by spelling) up to ``vocab_size``. The library's
    ``WordPieceTrainer`` is not used because it breaks frequency ties through Rust hash
    maps, so its vocabulary changes from one run to the next; this one is a function of the
    corpus. The post-processor wraps every text as ``[CLS] ... [SEP]``, as BERT's does.
    """
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normaliser, splitter = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words = Counter(
        word for text in texts for word, _ in splitter.pre_tokenize_str(normaliser.normalize_str(text))
    )
    if not words:
        raise ValueError("cannot build a vocabulary from an empty corpus")
    characters = sorted({c for word in words for c in word})
    base = [*SPECIAL_TOKENS, *characters, *(f"##{c}" for c in characters)]
    if vocab_size < len(base):
        raise ValueError(
            f"vocab_size must be at least {len(base)} (special tokens and every character), got {vocab_size}"
        )
    frequent = [w for w, _ in sorted(words.items(), key=lambda item: (-item[1], item[0])) if len(w) > 1]
    vocab = {token: i for i, token in enumerate([*base, *frequent[: vocab_size - len(base)]])}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normaliser
    tokenizer.pre_tokenizer = splitter
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer.to_str()


def pretrained_tokenizer(name: str, cache_dir: str | None = None) -> str:
    """The hub tokenizer of ``name`` (its fast backend) as a JSON string."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name, cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001
        raise HubUnavailableError(
            f"could not load the tokenizer of {name!r} ({type(exc).__name__}: {exc}); download it once with "
            "network access, then set HF_HUB_OFFLINE=1"
        ) from exc
    return tok.backend_tokenizer.to_str()


@dataclass
class TextEncoder:
    """A tokenizer (JSON string) that turns texts into ``[N, max_length]`` token ids."""

    tokenizer_json: str
    max_length: int
    _tokenizer: Any = field(default=None, init=False, repr=False)

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_str(self.tokenizer_json)
            self._tokenizer.enable_truncation(self.max_length)
            self._tokenizer.enable_padding(length=self.max_length, pad_id=self.pad_id, pad_token="[PAD]")
        return self._tokenizer

    @property
    def pad_id(self) -> int:
        from tokenizers import Tokenizer

        pad = Tokenizer.from_str(self.tokenizer_json).token_to_id("[PAD]")
        if pad is None:
            raise ValueError("the tokenizer has no [PAD] token")
        return int(pad)

    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size(with_added_tokens=True))

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        if self.max_length < 3:
            raise ValueError(f"max_length must be at least 3 ([CLS], a token, [SEP]), got {self.max_length}")
        encodings = self.tokenizer.encode_batch(list(texts))
        return torch.tensor([e.ids for e in encodings], dtype=torch.long)

    def special_ids(self) -> list[int]:
        """Ids never replaced by perturbations: bracketed tokens ([PAD], [CLS], [unused0]...)."""
        return sorted(
            i for tok, i in self.tokenizer.get_vocab(with_added_tokens=True).items() if _bracketed(tok)
        )

    def replacement_pool(self) -> list[int]:
        """Ids a perturbation may insert: every non-bracketed vocabulary token."""
        return sorted(
            i for tok, i in self.tokenizer.get_vocab(with_added_tokens=True).items() if not _bracketed(tok)
        )


def _bracketed(token: str) -> bool:
    return re.fullmatch(r"\[[^\]]+\]", token) is not None


# ---------------------------------------------------------------------------- loss and recipe


class MultilabelBCE:
    """``loss_fn(model, (ids, targets))``: BCE with logits, ``pos_weight`` = the class weights."""

    def __init__(self, pos_weight: torch.Tensor | Sequence[float] | None = None) -> None:
        self.pos_weight = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32)

    def __call__(self, model: nn.Module, batch: Any) -> torch.Tensor:
        return self.sample_losses(model(batch[0]), batch[1]).mean()

    def sample_losses(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``[N]`` per-sample losses (mean over labels); their mean is the batch loss."""
        weight = None if self.pos_weight is None else self.pos_weight.to(logits.device, logits.dtype)
        losses = F.binary_cross_entropy_with_logits(
            logits, targets.to(logits.dtype), pos_weight=weight, reduction="none"
        )
        return losses.mean(dim=1)


#: The paper's optimiser (the recipe's ``optimizer`` block may set its ``lr`` and ``weight_decay``).
ADAMW = OptimizerSpec("adamw", 5e-5, weight_decay=0.01, decay_bias_and_norm=False)


@dataclass
class FineTuneRecipe:
    """The paper's DistilBERT recipe as :func:`unlearnbench.training.fit` settings.

    AdamW without weight decay on biases and LayerNorm weights, a linear warm-up/decay
    schedule stepped per batch, gradient clipping (infinity norm by default). Every field
    comes from a key of the ``training`` block (:meth:`from_config`).
    """

    epochs: int = 4
    batch_size: int = 256
    optimizer: OptimizerSpec = field(default_factory=lambda: replace(ADAMW))
    scheduler: SchedulerSpec = field(default_factory=lambda: SchedulerSpec("linear-warmup", warmup_steps=0))
    clip: GradientClip | None = field(default_factory=lambda: GradientClip(1.0, math.inf))

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> FineTuneRecipe:
        norm = block.get("clip_norm_type", "inf")
        clip_norm = block.get("clip_norm", 1.0)
        optimizer = ADAMW.tuned(block.get("optimizer") or {}, "DistilBERT")
        return cls(
            epochs=int(block.get("epochs", cls.epochs)),
            batch_size=int(block.get("batch_size", cls.batch_size)),
            optimizer=replace(optimizer, eps=float(block.get("adam_epsilon", optimizer.eps))),
            scheduler=SchedulerSpec("linear-warmup", warmup_steps=int(block.get("warmup_steps", 0))),
            clip=None
            if clip_norm is None
            else GradientClip(float(clip_norm), math.inf if str(norm) == "inf" else float(norm)),
        )


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, ids: torch.Tensor, *, batch_size: int = 256, device: str = "cpu"
) -> torch.Tensor:
    """Sigmoid outputs ``[N, labels]`` (eval mode), on the CPU."""
    return eval_outputs(
        model, lambda batch: torch.sigmoid(model(batch)), ids, batch_size=batch_size, device=device
    )
