"""DistilBERT provision classifier: tokenizer, token-replacement perturbations, recipe, checkpoints, F1."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from unlearnbench.metrics.multilabel import evaluate_multilabel, f1_report, tune_thresholds
from unlearnbench.models import load_model, save_model
from unlearnbench.models.text import (
    MODEL_NAME,
    DistilBertMultilabel,
    FineTuneRecipe,
    MultilabelBCE,
    TextEncoder,
    train_wordpiece,
)
from unlearnbench.perturbations import TokenReplacement
from unlearnbench.training import fit, parameter_groups

TEXTS = [
    "the parties shall terminate this agreement upon notice",
    "this agreement is governed by the laws of delaware",
    "notices shall be delivered by certified mail",
    "counterparts may be executed by facsimile signature",
] * 5
CONFIG = {"n_layers": 1, "n_heads": 2, "dim": 16, "hidden_dim": 32, "max_position_embeddings": 32}


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(train_wordpiece(TEXTS, 80), 16)


def _model(encoder: TextEncoder, labels: int = 3) -> DistilBertMultilabel:
    torch.manual_seed(0)
    return DistilBertMultilabel(labels, {**CONFIG, "vocab_size": encoder.vocab_size()}, encoder.pad_id).eval()


def test_encoder_wraps_cls_sep_and_pads(encoder):
    ids = encoder(["governed by the laws", "notices"])
    vocab = encoder.tokenizer.get_vocab()
    assert ids.shape == (2, 16) and ids.dtype == torch.long
    assert (ids[:, 0] == vocab["[CLS]"]).all()
    assert ids[1, -1] == encoder.pad_id
    assert set(encoder.special_ids()) >= {vocab["[PAD]"], vocab["[CLS]"], vocab["[SEP]"]}
    assert not set(encoder.special_ids()) & set(encoder.replacement_pool())


def test_vocabulary_is_a_function_of_the_corpus(encoder):
    assert train_wordpiece(TEXTS, 80) == encoder.tokenizer_json  # deterministic
    vocab = encoder.tokenizer.get_vocab()
    assert "agreement" in vocab and "##s" in vocab
    # a word outside the vocabulary is spelled with WordPiece continuations, not [UNK]
    tokens = [t for t in encoder.tokenizer.encode("agreements").tokens if t != "[PAD]"]
    assert tokens == ["[CLS]", "agreement", "##s", "[SEP]"]
    with pytest.raises(ValueError, match="vocab_size must be at least"):
        train_wordpiece(TEXTS, 10)


def test_token_replacement_replaces_exactly_n_ordinary_tokens(encoder):
    ids = encoder(TEXTS[:3])
    replacer = TokenReplacement(encoder.replacement_pool(), encoder.special_ids(), n_tokens=2)
    copies = replacer(ids, 40, torch.Generator().manual_seed(0))
    assert copies.shape == (40, *ids.shape)
    special = torch.isin(ids, torch.tensor(encoder.special_ids()))
    changed = copies != ids.unsqueeze(0)
    assert not (changed & special.unsqueeze(0)).any()  # [CLS], [SEP], padding never touched
    assert (changed.sum(-1) <= 2).all() and changed.sum(
        -1
    ).float().mean() > 1.5  # a draw may repeat the token
    again = replacer(ids, 40, torch.Generator().manual_seed(0))
    assert torch.equal(copies, again)
    # a sequence with a single ordinary token has only that one replaced
    short = encoder(["notices"])
    ordinary = int((~torch.isin(short, torch.tensor(encoder.special_ids()))).sum())
    few = TokenReplacement(encoder.replacement_pool(), encoder.special_ids(), n_tokens=5)(
        short, 10, torch.Generator().manual_seed(1)
    )
    assert ((few != short).sum(-1) <= ordinary).all()


def test_padding_is_masked(encoder):
    model = _model(encoder)
    short, long = TextEncoder(encoder.tokenizer_json, 8), TextEncoder(encoder.tokenizer_json, 16)
    texts = ["notices", "the laws"]
    assert (short(texts)[:, -1] == encoder.pad_id).all()  # nothing truncated
    with torch.no_grad():
        a, b = model(short(texts)), model(long(texts))
    assert torch.allclose(a, b, atol=1e-5)


def test_checkpoint_round_trip(tmp_path, encoder):
    model = _model(encoder)
    kwargs = {
        "n_labels": 3,
        "config": {**CONFIG, "vocab_size": encoder.vocab_size()},
        "pad_token_id": encoder.pad_id,
    }
    save_model(tmp_path / "m.pt", model, MODEL_NAME, kwargs, {"tokenizer": encoder.tokenizer_json})
    loaded, meta = load_model(tmp_path / "m.pt")
    ids = encoder(TEXTS[:4])
    with torch.no_grad():
        assert torch.equal(model(ids), loaded(ids))
    assert TextEncoder(meta["tokenizer"], 16)(TEXTS[:1]).equal(ids[:1])


def test_no_weight_decay_on_bias_and_layernorm(encoder):
    model = _model(encoder)
    decay, no_decay = parameter_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    undecayed = [names[id(p)] for p in no_decay["params"]]
    assert all(n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n for n in undecayed)
    # every normalisation weight, DistilBERT's sa_layer_norm / output_layer_norm included
    assert {n for n in names.values() if "norm" in n.lower() and n.endswith("weight")} <= set(undecayed)
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_recipe_from_config():
    recipe = FineTuneRecipe.from_config(
        {"epochs": 10, "batch_size": 4, "optimizer": {"name": "adamw", "lr": 1e-2}, "adam_epsilon": 1e-6}
    )
    assert recipe.clip is not None and recipe.clip.norm_type == math.inf and recipe.clip.max_norm == 1.0
    assert recipe.optimizer.weight_decay == 0.01 and recipe.optimizer.eps == 1e-6
    assert not recipe.optimizer.decay_bias_and_norm and recipe.scheduler.per_batch
    assert FineTuneRecipe.from_config({"clip_norm": None}).clip is None
    with pytest.raises(ValueError, match="AdamW"):
        FineTuneRecipe.from_config({"epochs": 1, "batch_size": 1, "optimizer": {"name": "sgd", "lr": 1.0}})


def test_fine_tuning_with_the_recipe_learns(encoder):
    recipe = FineTuneRecipe.from_config({"epochs": 10, "batch_size": 4, "optimizer": {"name": "adamw", "lr": 1e-2}})
    ids = encoder(TEXTS)
    targets = torch.zeros(len(TEXTS), 3)
    targets[torch.arange(len(TEXTS)), torch.tensor([0, 1, 2, 0] * 5)] = 1.0  # a function of the text
    model = _model(encoder)
    result = fit(
        model,
        MultilabelBCE(torch.ones(3)),
        TensorDataset(ids, targets),
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        optimizer=recipe.optimizer,
        scheduler=recipe.scheduler,
        clip=recipe.clip,
        seed=0,
    )
    assert result.history[-1] < 0.6 * result.history[0]


def test_sample_losses_average_to_the_batch_loss(encoder):
    model, loss = _model(encoder), MultilabelBCE(torch.tensor([0.5, 1.0, 2.0]))
    ids, targets = encoder(TEXTS[:4]), torch.eye(3)[[0, 1, 2, 0]]
    with torch.no_grad():
        assert torch.allclose(loss.sample_losses(model(ids), targets).mean(), loss(model, (ids, targets)))


def test_thresholds_and_f1():
    truth = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [0, 0]])
    probs = np.array([[0.9, 0.1], [0.7, 0.2], [0.2, 0.35], [0.1, 0.4], [0.8, 0.45], [0.3, 0.05]])
    thresholds = tune_thresholds(probs, truth, min_positives=2)
    assert (probs[:, 0][truth[:, 0] == 1] > thresholds[0]).all() and (
        probs[:, 0][truth[:, 0] == 0] <= thresholds[0]
    ).all()
    assert (probs[:, 1][truth[:, 1] == 1] > thresholds[1]).all()
    from sklearn.metrics import f1_score

    predicted = probs > 0.5
    report = f1_report(truth, predicted)
    assert report["micro_f1"] == pytest.approx(f1_score(truth, predicted, average="micro"))
    assert report["per_label_f1"] == pytest.approx(
        list(f1_score(truth, predicted, average=None, zero_division=0))
    )
    many_p, many_t = np.repeat(probs, 3, axis=0), np.repeat(truth, 3, axis=0)  # >= 5 positives per label
    assert evaluate_multilabel(many_p, many_t, many_p, many_t, "dev-tuned")["micro_f1"] == 1.0
    assert evaluate_multilabel(many_p, many_t, many_p, many_t, 0.5)["micro_f1"] < 1.0
    with pytest.raises(ValueError, match="threshold"):
        evaluate_multilabel(probs, truth, probs, truth, "median")


def test_paper_path_from_a_local_pretrained_folder(tmp_path, encoder):
    """The hub loaders work on a local save (as on the paper profile's cache) and fail clearly otherwise."""
    from tokenizers import Tokenizer
    from transformers import DistilBertConfig, DistilBertModel, PreTrainedTokenizerFast

    from unlearnbench.models.text import (
        HubUnavailableError,
        pretrained_backbone,
        pretrained_config,
        pretrained_tokenizer,
    )

    torch.manual_seed(1)
    source = DistilBertModel(DistilBertConfig(**{**CONFIG, "vocab_size": encoder.vocab_size()}))
    source.save_pretrained(tmp_path / "hub")
    PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(encoder.tokenizer_json), pad_token="[PAD]"
    ).save_pretrained(tmp_path / "hub")
    config = pretrained_config(str(tmp_path / "hub"))
    assert config["dim"] == 16 and config["vocab_size"] == encoder.vocab_size()
    model = DistilBertMultilabel(3, config, encoder.pad_id)
    pretrained_backbone(model, str(tmp_path / "hub"))
    assert torch.equal(
        model.distilbert.embeddings.word_embeddings.weight, source.embeddings.word_embeddings.weight
    )
    assert TextEncoder(pretrained_tokenizer(str(tmp_path / "hub")), 16)(TEXTS[:2]).equal(encoder(TEXTS[:2]))
    with pytest.raises(HubUnavailableError, match="could not load"):
        pretrained_backbone(model, str(tmp_path / "missing"))
