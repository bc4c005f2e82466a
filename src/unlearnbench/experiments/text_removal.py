"""Experiment kind ``text-removal``: L-CODEC Fig. 7 (right), DistilBERT on LEDGAR.

One DistilBERT provision classifier is fine-tuned per seed (the paper's recipe: AdamW,
lr 5e-5, weight decay 0.01 except biases and LayerNorm weights, batch 256, 128 tokens,
4 epochs, class-weighted BCE, gradient clipping at infinity-norm 1.0, linear warm-up
schedule), with the gradient bank of its last two epochs. Each run then removes training
provisions of one label, one at a time, from that model with one method and one epsilon,
and records the test micro-F1 over all labels and the F1 of the removed label at every
``checkpoint_every`` removals (thresholds tuned on the dev split after each removal, as
the authors' evaluation does; ``threshold: <number>`` fixes them instead).

L-FOCI's perturbations replace random tokens (``tokens_replaced`` per copy, the authors'
``n_tokens_to_replace``): adding Gaussian noise to token ids, as the engine does for
images, is meaningless. :func:`text_unlearn` is therefore the engine's blockwise step
(:func:`unlearnbench.newton.pipeline.blockwise_unlearn`) with the perturbed copies made
by a :class:`~unlearnbench.models.text.TokenReplacer`; selection, Hessian, noise and the
update are the engine's own. Embeddings and LayerNorms are never updated (only Linear
slices exist in the engine). Methods: ``lcodec`` (selection from the hyperparameters),
``newton-random`` and ``newton-full`` (selection fixed, as the registered methods do).

Choices the paper leaves open (keys of the experiment block):

- removed provisions are those whose only label is the removed one (the authors skip
  multi-label provisions), in a seeded random order shared by all methods and epsilons;
- ``n`` of the Newton step is the current number of training provisions;
- ``removal.retain_sample`` provisions (re-drawn per removal) estimate the Hessian with
  ``hessian: exact``; ``finite-difference`` (the authors' choice) reads the bank instead.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from unlearnbench.data.ledgar import LedgarData, label_index, load_ledgar
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.experiments.method_variants import (
    Variant,
    checkpoint_schedule,
    find_variant,
    hyperparameters,
)
from unlearnbench.experiments.unchanged import unchanged_entry, unchanged_summary
from unlearnbench.metrics.multilabel import evaluate_multilabel
from unlearnbench.models import load_model, save_model
from unlearnbench.models.text import (
    MODEL_NAME,
    DistilBertMultilabel,
    FineTuneRecipe,
    MultilabelBCE,
    TextEncoder,
    TokenReplacer,
    predict_probabilities,
    pretrained_backbone,
    pretrained_config,
    pretrained_tokenizer,
    train_wordpiece,
)
from unlearnbench.newton.settings import fill_authors_noise_n
from unlearnbench.provenance import provenance
from unlearnbench.storage import write_json
from unlearnbench.timing import Stopwatch
from unlearnbench.training import fit, seed_everything
from unlearnbench.unlearning.base import UnlearningOutcome, UnlearningRequest

KIND = "text-removal"
#: Fixed selection of the methods this kind runs (the registered methods fix the same).
METHODS: dict[str, dict[str, Any]] = {
    "lcodec": {},
    "newton-random": {"selection": "random"},
    "newton-full": {"selection": "full"},
}
_ORDER_STREAM, _RETAIN_STREAM = 11, 12
#: Keys of the hyperparameters that belong to the token perturbation, not to NewtonSettings.
TEXT_KEYS = ("tokens_replaced",)


# ---------------------------------------------------------------------------- the kind protocol


def datasets(settings: Mapping[str, Any]) -> list[str]:
    # LEDGAR is read by unlearnbench.data.ledgar (hub cache, a corpus file or the stand-in it
    # writes itself), not by the image-dataset registry the data rule serves.
    return []


def pretrained(settings: Mapping[str, Any], method: str, seed: int) -> list[ModelRef]:
    return [ModelRef("original", seed)]


def removal_labels(settings: Mapping[str, Any]) -> list[str]:
    labels = list((settings.get("removal") or {}).get("labels") or [])
    if not labels:
        raise ValueError("removal.labels must name at least one label to remove")
    return labels


def variant_of(settings: Mapping[str, Any], name: str) -> Variant:
    variant = find_variant(settings, name, removal_labels(settings))
    if variant.method not in METHODS:
        raise ValueError(f"text-removal runs {', '.join(METHODS)}; got method {variant.method!r}")
    return variant


def load_data(ctx: RunContext) -> LedgarData:
    return load_ledgar(ctx.settings.get("data") or {}, ctx.data_root)


def _uses_bank(settings: Mapping[str, Any]) -> bool:
    shared = (settings.get("unlearning") or {}).get("hessian")
    return any(
        ((hp or {}).get("hessian", shared)) == "finite-difference"
        for hp in (settings.get("methods") or {}).values()
    )


def pretrain(ctx: RunContext, ref: ModelRef, output: Path) -> None:
    from unlearnbench.newton.gradient_bank import GradientBankCallback, store_in_meta

    if ref.role != "original":
        raise ValueError(f"experiment kind {KIND} has no model role {ref.role!r}")
    s = ctx.settings
    model_cfg = s["model"]
    data = load_data(ctx)
    pretrained_name = model_cfg.get("pretrained")
    cache_dir = model_cfg.get("cache_dir")
    if pretrained_name:
        tokenizer_json = pretrained_tokenizer(pretrained_name, cache_dir)
    else:
        tokenizer_json = train_wordpiece(data.train.texts, int(model_cfg.get("vocab_size", 2000)))
    encoder = TextEncoder(tokenizer_json, int(s["training"].get("max_length", 128)))
    if pretrained_name:
        config = pretrained_config(pretrained_name, cache_dir)
    else:
        config = {
            **dict(model_cfg.get("config") or {}),
            "vocab_size": encoder.vocab_size(),
            "pad_token_id": encoder.pad_id,
        }
        config.setdefault("max_position_embeddings", encoder.max_length)
    kwargs = {"n_labels": len(data.labels), "config": config, "pad_token_id": encoder.pad_id}
    seed_everything(ref.seed)
    model = DistilBertMultilabel(**kwargs)
    if pretrained_name:
        pretrained_backbone(model, pretrained_name, cache_dir)
    loss = MultilabelBCE(data.class_weights() if s["training"].get("class_weights", True) else None)
    train = TensorDataset(encoder(data.train.texts), torch.as_tensor(data.train.targets))
    recipe = FineTuneRecipe.from_config(s["training"])
    callbacks = []
    if _uses_bank(s):
        callbacks.append(GradientBankCallback(loss, recipe.epochs, ctx.device))
    result = fit(
        model,
        loss,
        train,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        optimizer=recipe.optimizer,
        scheduler=recipe.scheduler,
        clip=recipe.clip,
        seed=ref.seed,
        device=ctx.device,
        callbacks=callbacks,
        resume_path=output.with_name(output.name + ".resume"),
        description=f"{ctx.experiment} fine-tune seed {ref.seed}",
    )
    report = _evaluate(model, data, encoder, s, ctx.device)
    meta: dict[str, Any] = {
        "experiment": ctx.experiment,
        "role": ref.role,
        "dataset": data.description,
        "stand_in": data.stand_in,
        "labels": data.labels,
        "class_weights": loss.pos_weight.tolist() if loss.pos_weight is not None else None,
        "tokenizer": tokenizer_json,
        "max_length": encoder.max_length,
        "n_train": len(train),
        "train_seconds": result.seconds,
        "loss_history": result.history,
        "test_micro_f1": report["micro_f1"],
        "test_per_label_f1": report["per_label_f1"],
        "pretrained": pretrained_name,
        "provenance": provenance(config=ctx.config, seed=ref.seed, device=ctx.device),
    }
    if callbacks:
        store_in_meta(meta, callbacks[0].bank)
    save_model(output, model, MODEL_NAME, kwargs, meta)


def _evaluate(
    model: nn.Module,
    data: LedgarData,
    encoder: TextEncoder,
    settings: Mapping[str, Any],
    device: str,
    dev_ids: torch.Tensor | None = None,
    test_ids: torch.Tensor | None = None,
) -> dict[str, Any]:
    batch = int((settings.get("evaluation") or {}).get("batch_size", 256))
    dev_ids = encoder(data.dev.texts) if dev_ids is None else dev_ids
    test_ids = encoder(data.test.texts) if test_ids is None else test_ids
    dev = predict_probabilities(model, dev_ids, batch_size=batch, device=device).numpy()
    test = predict_probabilities(model, test_ids, batch_size=batch, device=device).numpy()
    threshold = (settings.get("evaluation") or {}).get("threshold", "dev-tuned")
    return evaluate_multilabel(dev, data.dev.targets, test, data.test.targets, threshold)


# ---------------------------------------------------------------------------- L-CODEC with token perturbations


class _UnitFeatures:
    """Forward hooks: each slice layer's output averaged over all but its unit dimension.

    The same reduction as the engine's (tokens are averaged like spatial positions).
    """

    def __init__(self, model: nn.Module, layers: Sequence[Any]) -> None:
        modules = dict(model.named_modules())
        self.layers = list(layers)
        self.values: dict[str, torch.Tensor] = {}
        self.handles = [
            modules[layer.name].register_forward_hook(self._hook(layer.name)) for layer in self.layers
        ]

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            out = output.detach()
            self.values[name] = out.reshape(out.shape[0], -1, out.shape[-1]).mean(dim=1)

        return hook

    def collect(self, rows: int) -> torch.Tensor:
        cols = [self.values.get(layer.name, torch.zeros(rows, layer.n_slices)) for layer in self.layers]
        self.values = {}
        return torch.cat([c.cpu() for c in cols], dim=1)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


@torch.no_grad()
def perturbed_text_features(
    model: nn.Module,
    loss_fn: Any,
    forget: tuple[torch.Tensor, ...],
    layers: Sequence[Any],
    replacer: TokenReplacer,
    copies: int,
    generator: torch.Generator,
    chunk: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L-FOCI's sample for a text forget batch: ``features [copies, slices]``, ``losses [copies]``.

    Copy ``j`` is the whole forget batch with ``replacer``'s token replacements; its
    features are averaged over the batch and its loss is ``loss_fn`` on the batch (read
    off the same forward pass when ``loss_fn`` has ``sample_losses``, as
    :class:`~unlearnbench.models.text.MultilabelBCE` does).
    """
    if copies < 2:
        raise ValueError(f"L-FOCI needs at least 2 perturbed copies, got {copies}")
    ids, targets = forget[0], forget[1]
    b = int(ids.shape[0])
    perturbed = replacer(ids, copies, generator)  # [copies, b, L]
    model.eval()
    hooks = _UnitFeatures(model, layers)
    features, losses = [], []
    try:
        per_chunk = max(1, chunk // b)
        for start in range(0, copies, per_chunk):
            part = perturbed[start : start + per_chunk]
            c = int(part.shape[0])
            logits = model(part.reshape(c * b, -1))
            features.append(hooks.collect(c * b).reshape(c, b, -1).mean(dim=1))
            if hasattr(loss_fn, "sample_losses"):  # the same forward pass gives every copy's loss
                per_sample = loss_fn.sample_losses(logits, targets.repeat(c, *[1] * (targets.ndim - 1)))
                losses.append(per_sample.reshape(c, b).mean(dim=1))
            else:
                losses.append(_copy_losses(model, loss_fn, part, targets))
    finally:
        hooks.remove()
    return torch.cat(features), torch.cat(losses).double().cpu()


def _copy_losses(model: nn.Module, loss_fn: Any, copies: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``loss_fn`` on each copy ``[b, L]`` of ``copies`` at once (vmap), or one by one if it cannot trace."""
    try:
        return torch.func.vmap(lambda ids: loss_fn(model, (ids, targets)))(copies).reshape(-1)
    except (RuntimeError, NotImplementedError):
        return torch.stack([loss_fn(model, (ids, targets)) for ids in copies]).reshape(-1)


def text_unlearn(
    model: nn.Module, request: UnlearningRequest, replacer: TokenReplacer, **fixed: Any
) -> UnlearningOutcome:
    """The engine's blockwise Newton removal with L-FOCI on token-replaced copies."""
    from unlearnbench.newton.pipeline import MAX_LISTED_SLICES, load_request_data, step_on_selection
    from unlearnbench.newton.selection import select_slices
    from unlearnbench.newton.settings import NewtonSettings
    from unlearnbench.newton.slices import slice_layers, slice_names, total_slices

    hp = {k: v for k, v in request.hyperparameters.items() if k not in TEXT_KEYS}
    settings = NewtonSettings.from_hyperparameters(hp, **fixed)
    generator = request.generator
    with Stopwatch(request.device) as watch:
        work = copy.deepcopy(model).to(request.device).eval()
        layers = slice_layers(work)
        n_slices = total_slices(layers)
        forget, retain = load_request_data(request, need_retain=settings.hessian != "finite-difference")
        features = losses = None
        if settings.selection != "full":
            features, losses = perturbed_text_features(
                work,
                request.loss_fn,
                forget,
                layers,
                replacer,
                settings.perturbations,
                generator,
                settings.feature_chunk,
            )
        selection = select_slices(
            settings.selection,
            n_slices,
            generator,
            features,
            losses,
            max_slices=settings.max_slices,
            empty_selection=settings.empty_selection,
        )
        diagnostics: dict[str, Any] = {
            "selection": settings.selection,
            "n_slices_total": n_slices,
            "n_slices_selected": len(selection.indices),
            "noise": settings.noise,
            "perturbation": f"token replacement ({replacer.n_tokens} per copy)",
        }
        if settings.selection != "full":
            names = slice_names(layers)
            diagnostics["selected_slices"] = [names[i] for i in selection.indices[:MAX_LISTED_SLICES]]
        diagnostics.update(
            step_on_selection(work, request, selection, layers, forget, retain, settings, generator)
        )
    return UnlearningOutcome(model=work, seconds=watch.seconds, diagnostics=diagnostics)


# ---------------------------------------------------------------------------- one run


def removal_candidates(
    targets: np.ndarray, label: int, seed: int, single_label_only: bool = True
) -> np.ndarray:
    """Training rows carrying ``label`` (alone, by default), in the seed's removal order."""
    has = targets[:, label] > 0.5
    if single_label_only:
        has &= targets.sum(axis=1) == 1
    rows = np.flatnonzero(has)
    return np.random.default_rng([seed, _ORDER_STREAM, label]).permutation(rows)


def run(ctx: RunContext, method: str, seed: int, output: Path) -> dict[str, Any]:
    s = ctx.settings
    removal = s.get("removal") or {}
    variant = variant_of(s, method)
    data = load_data(ctx)
    target = label_index(data, str(variant.target))
    model, meta = load_model(ctx.model_path(ModelRef("original", seed)), ctx.device)
    if list(meta.get("labels", [])) != data.labels:
        raise ValueError(
            "the pretrained model was trained on other labels; rebuild it (delete the checkpoint)"
        )
    encoder = TextEncoder(meta["tokenizer"], int(meta["max_length"]))
    train_ids = encoder(data.train.texts)
    dev_ids, test_ids = encoder(data.dev.texts), encoder(data.test.texts)
    train = TensorDataset(train_ids, torch.as_tensor(data.train.targets))
    loss = MultilabelBCE(meta.get("class_weights"))
    weight_decay = float((s["training"].get("optimizer") or {}).get("weight_decay", 0.01))
    hp = hyperparameters(s, variant, weight_decay)
    # noise: authors-code passes the full training-set size as n (the authors' ledgar_scrub.py: orig_trainset_size = len(train_data))
    fill_authors_noise_n(hp, len(train))
    replacer = TokenReplacer(
        encoder.replacement_pool(), encoder.special_ids(), int(hp.get("tokens_replaced", 1))
    )
    if hp.get("hessian") == "finite-difference":
        if "gradient_bank" not in meta:
            raise ValueError(
                "hessian: finite-difference needs the gradient bank; rebuild the pretrained model (delete it)"
            )
        hp["gradient_bank"] = meta["gradient_bank"]
    candidates = removal_candidates(
        data.train.targets, target, seed, bool(removal.get("single_label_only", True))
    )
    total = min(int(removal["removals"]), len(candidates))
    if total <= 0:
        raise ValueError(f"no training provision carries only the label {variant.target!r}")
    schedule = checkpoint_schedule(total, int(removal.get("checkpoint_every", max(1, total // 5))))
    retain_sample = removal.get("retain_sample")
    generator = seed_everything(seed)
    retain_rng = np.random.default_rng([seed, _RETAIN_STREAM])
    active = np.ones(len(train), dtype=bool)
    device = torch.device(ctx.device)

    def checkpoint(current: nn.Module, removed: list[int], window: list[dict[str, Any]]) -> dict[str, Any]:
        report = _evaluate(current, data, encoder, s, ctx.device, dev_ids, test_ids)
        row: dict[str, Any] = {
            "removals": len(removed),
            "micro_f1": report["micro_f1"],
            "class_f1": report["per_label_f1"][target],
            "macro_f1": report["macro_f1"],
            "forget_recall": _forget_recall(
                current, train_ids, removed, target, report["thresholds"][target], ctx.device
            ),
        }
        if window:
            for key in ("seconds", "n_slices_selected", "n_params_updated", "noise_sigma"):
                values = [float(w[key]) for w in window if w.get(key) is not None]
                row[f"mean_{key}"] = float(np.mean(values)) if values else None
        return row

    removed: list[int] = []
    window: list[dict[str, Any]] = []
    unchanged: list[dict[str, Any]] = []
    checkpoints = [checkpoint(model, removed, window)]
    total_seconds = 0.0
    for index in candidates[:total]:
        active[index] = False
        retain_idx = np.flatnonzero(active)
        if retain_sample is not None and retain_idx.size > int(retain_sample):
            retain_idx = np.sort(retain_rng.choice(retain_idx, size=int(retain_sample), replace=False))
        request = UnlearningRequest(
            forget=Subset(train, [int(index)]),
            retain=Subset(train, retain_idx.tolist()),
            n_train=int(active.sum()) + 1,
            loss_fn=loss,
            hyperparameters=hp,
            device=device,
            generator=generator,
        )
        outcome = text_unlearn(model, request, replacer, **METHODS[variant.method])
        model = outcome.model
        entry = unchanged_entry(outcome.diagnostics, [int(index)], len(removed))
        if entry is not None:
            unchanged.append(entry)
        removed.append(int(index))
        total_seconds += outcome.seconds
        window.append({"seconds": outcome.seconds, **outcome.diagnostics})
        if len(removed) in schedule:
            checkpoints.append(checkpoint(model, removed, window))
            window = []
    payload = {
        "experiment": ctx.experiment,
        "kind": KIND,
        "method": variant.name,
        "base_method": variant.method,
        "epsilon": variant.epsilon,
        "removed_label": variant.target,
        "seed": seed,
        "dataset": data.description,
        "stand_in": data.stand_in,
        "n_train": len(train),
        "n_candidates": len(candidates),
        "labels": data.labels,
        "label_support_test": data.test.targets.sum(axis=0).astype(int).tolist(),
        "settings": dict(s),
        "original_train_seconds": meta.get("train_seconds"),
        "checkpoints": [{k: _clean(v) for k, v in row.items()} for row in checkpoints],
        "metrics": {k: _clean(checkpoints[-1][k]) for k in ("removals", "micro_f1", "class_f1")},
        **unchanged_summary(unchanged),
        "seconds": total_seconds,
        "provenance": provenance(config=ctx.config, seed=seed, device=ctx.device),
    }
    write_json(output, payload)
    return payload


def _forget_recall(
    model: nn.Module, ids: torch.Tensor, removed: Sequence[int], label: int, threshold: float, device: str
) -> float | None:
    """Fraction of the removed provisions still predicted with the removed label."""
    if not removed:
        return None
    probs = predict_probabilities(model, ids[list(removed)], device=device)[:, label]
    return float((probs > threshold).double().mean())


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value
