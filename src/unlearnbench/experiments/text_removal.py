"""Experiment kind ``text-removal``: L-CODEC Fig. 7 (right), DistilBERT on LEDGAR.

One DistilBERT provision classifier is fine-tuned per seed (the paper's recipe: AdamW,
lr 5e-5, weight decay 0.01 except biases and LayerNorm weights, batch 256, 128 tokens,
4 epochs, class-weighted BCE, gradient clipping at infinity-norm 1.0, linear warm-up
schedule), with the gradient bank of its last two epochs. Each run then removes training
provisions of one label, one at a time, from that model with one method and one epsilon,
and records the test micro-F1 over all labels and the F1 of the removed label at every
``checkpoint_every`` removals (thresholds tuned on the dev split after each removal, as
the authors' evaluation does; ``threshold: <number>`` fixes them instead), beside the
standard checkpoint set of every removal kind with the micro-F1 as the score
(``forget_micro_f1``, ``residual_micro_f1``, ``test_micro_f1``, both residual gradient norms,
``mia_auc``, ``mia_svc_efficacy``; see :class:`_TextTask`).

L-FOCI's perturbations replace random tokens (``tokens_replaced`` per copy, the authors'
``n_tokens_to_replace``): adding Gaussian noise to token ids, as the engine does for
images, is meaningless. Each removal's request therefore carries a
:class:`~unlearnbench.perturbations.TokenReplacement` as its ``perturbation``, and the
method is any registered one (``lcodec``, ``newton-random``, ``newton-full``, ...), taken
from the method registry as in every kind; selection, Hessian, noise and the update are
the engine's own. Embeddings and LayerNorms are never updated by the Newton methods (only
Linear slices exist in the engine).

Choices the paper leaves open (keys of the experiment block):

- removed provisions are those whose only label is the removed one (the authors skip
  multi-label provisions), in a seeded random order shared by all methods and epsilons;
- ``n`` of the Newton step is the current number of training provisions;
- ``removal.retain_sample`` provisions (re-drawn per removal) estimate the Hessian with
  ``hessian: exact``; ``finite-difference`` (the authors' choice) reads the bank instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

from unlearnbench.batching import as_tensors
from unlearnbench.data.ledgar import LedgarData, label_index, load_ledgar
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.experiments.method_variants import Variant, find_variant, hyperparameters
from unlearnbench.experiments.removal_engine import (
    Checkpoint,
    Progress,
    Removal,
    RemovalPlan,
    RemovalTask,
    checkpoint_schedule,
    diagnostic_means,
    kept,
    residual_pool,
    run_removals,
)
from unlearnbench.experiments.unchanged import unchanged_summary
from unlearnbench.metrics.classification import predict_logits
from unlearnbench.metrics.multilabel import evaluate_multilabel, label_vector_confidence, micro_f1_at
from unlearnbench.metrics.removal import MetricInputs
from unlearnbench.models import load_model, save_model
from unlearnbench.models.text import (
    MODEL_NAME,
    DistilBertMultilabel,
    FineTuneRecipe,
    MultilabelBCE,
    TextEncoder,
    predict_probabilities,
    pretrained_backbone,
    pretrained_config,
    pretrained_tokenizer,
    train_wordpiece,
)
from unlearnbench.newton.gradient_bank import attach_bank
from unlearnbench.newton.settings import fill_authors_noise_n
from unlearnbench.perturbations import TokenReplacement
from unlearnbench.provenance import provenance
from unlearnbench.storage import write_json
from unlearnbench.training import fit, seed_everything
from unlearnbench.unlearning import get_method

KIND = "text-removal"
_ORDER_STREAM, _RETAIN_STREAM, _HELDOUT_STREAM, _RESIDUAL_STREAM = 11, 12, 13, 14


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
    return find_variant(settings, name, removal_labels(settings))


def load_data(ctx: RunContext) -> LedgarData:
    return load_ledgar(ctx.settings.get("data") or {}, ctx.data_root)


def pretrain(ctx: RunContext, ref: ModelRef, output: Path) -> None:
    from unlearnbench.newton.gradient_bank import GradientBankCallback, bank_needed, store_in_meta

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
    if bank_needed(s):
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
    report = read_splits(model, data, encoder(data.dev.texts), encoder(data.test.texts), s, ctx.device).report
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


@dataclass(frozen=True)
class SplitReadings:
    """One model's reading of the dev and test splits: the test logits and the F1 report (thresholds
    tuned on the dev split, or fixed). A checkpoint reads them once; its standard metric set and
    the kind's own F1 scores both use them."""

    test_logits: torch.Tensor
    report: dict[str, Any]


def read_splits(
    model: nn.Module,
    data: LedgarData,
    dev_ids: torch.Tensor,
    test_ids: torch.Tensor,
    settings: Mapping[str, Any],
    device: str,
) -> SplitReadings:
    """Predict the dev and test provisions once each and score the test split (:func:`evaluate_multilabel`)."""
    evaluation = settings.get("evaluation") or {}
    batch = int(evaluation.get("batch_size", 256))
    dev = predict_probabilities(model, dev_ids, batch_size=batch, device=device).numpy()
    test_logits = predict_logits(model, TensorDataset(test_ids), batch_size=batch, device=device)
    # the sigmoid batch by batch, as predict_probabilities applies it, so the probabilities are the same
    test = torch.cat([torch.sigmoid(chunk) for chunk in test_logits.split(batch)]).numpy()
    threshold = evaluation.get("threshold", "dev-tuned")
    report = evaluate_multilabel(dev, data.dev.targets, test, data.test.targets, threshold)
    return SplitReadings(test_logits, report)


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


class _TextTask(RemovalTask):
    """The provision classifier as the engine's task.

    Standard checkpoint metrics (:mod:`unlearnbench.metrics.removal`) with the task's score, the
    micro-F1 at the thresholds the kind's own F1 uses (tuned on the dev split for the model at
    hand, or ``evaluation.threshold``), so ``test_micro_f1`` is the reported ``micro_f1`` and the
    removed and retained provisions are scored by the same decision rule; the loss-threshold
    attack reads the per-provision class-weighted BCE (the training loss), the SVC attack
    :func:`~unlearnbench.metrics.multilabel.label_vector_confidence`; the held-out provisions
    are a seeded subset of the test split (``evaluation.mia_heldout``), the retained ones those
    of a fixed seeded sample of the training set (``evaluation.residual_sample``, null: all); the regularised
    objective has the training weight decay (AdamW decouples it and spares biases and
    LayerNorm weights, so its residual norm is the nearest L2 reading, not AdamW's own
    stationarity). The kind adds the F1 scores of its table and the removed provisions' recall.
    Each checkpoint predicts the dev and test splits once (:meth:`predict`) for both.
    """

    def __init__(
        self,
        ctx: RunContext,
        data: LedgarData,
        train: TensorDataset,
        loss: MultilabelBCE,
        target: int,
        dev_ids: torch.Tensor,
        test_ids: torch.Tensor,
        perturbation: TokenReplacement,
        *,
        seed: int,
        weight_decay: float,
    ) -> None:
        self.ctx, self.data, self.train, self.loss_fn, self.target = ctx, data, train, loss, target
        self.dev_ids, self.test_ids = dev_ids, test_ids
        self.perturbation = perturbation  # L-FOCI's copies replace tokens instead of adding noise
        self.weight_decay = weight_decay
        evaluation = ctx.settings.get("evaluation") or {}
        self.batch_size = int(evaluation.get("batch_size", 256))
        self.test = TensorDataset(test_ids, torch.as_tensor(data.test.targets))
        n_heldout = min(len(self.test), int(evaluation.get("mia_heldout", 1000)))
        heldout = np.random.default_rng([seed, _HELDOUT_STREAM]).permutation(len(self.test))[:n_heldout]
        self.heldout = Subset(self.test, heldout.tolist())
        self.residual_pool = residual_pool(
            np.arange(len(train)),
            evaluation.get("residual_sample"),
            np.random.default_rng([seed, _RESIDUAL_STREAM]),
        )

    def predict(self, model: nn.Module) -> SplitReadings:
        return read_splits(model, self.data, self.dev_ids, self.test_ids, self.ctx.settings, self.ctx.device)

    def metric_inputs(self, checkpoint: Checkpoint) -> MetricInputs:
        readings: SplitReadings = checkpoint.predictions
        return MetricInputs(
            forget=Subset(self.train, list(checkpoint.removed)),
            retain=Subset(self.train, kept(self.residual_pool, checkpoint.retain)),
            test=self.test,
            heldout=self.heldout,
            loss_fn=self.loss_fn,
            l2_lambda=self.weight_decay,
            batch_size=self.batch_size,
            score=micro_f1_at(np.asarray(readings.report["thresholds"])),
            score_name="micro_f1",
            sample_losses=_SampleBCE(self.loss_fn, self.batch_size),
            confidence=label_vector_confidence,
            test_logits=readings.test_logits,
        )

    def evaluate(self, checkpoint: Checkpoint) -> dict[str, Any]:
        target, report = self.target, checkpoint.predictions.report
        ids, threshold = self.train.tensors[0], report["thresholds"][target]
        return {
            "micro_f1": report["micro_f1"],
            "class_f1": report["per_label_f1"][target],
            "macro_f1": report["macro_f1"],
            "forget_recall": _forget_recall(
                checkpoint.model, ids, checkpoint.removed, target, threshold, self.ctx.device
            ),
        }

    def summarise_window(self, window: Sequence[Removal], progress: Progress) -> dict[str, Any]:
        return diagnostic_means(window)


class _SampleBCE:
    """``losses(model, dataset, *, device)``: each provision's class-weighted BCE (the loss-threshold attack's score)."""

    def __init__(self, loss: MultilabelBCE, batch_size: int) -> None:
        self.loss, self.batch_size = loss, batch_size

    def __call__(self, model: nn.Module, dataset: Dataset, *, device: str = "cpu") -> np.ndarray:
        logits = predict_logits(model, dataset, batch_size=self.batch_size, device=device)
        return self.loss.sample_losses(logits, as_tensors(dataset)[1]).double().numpy()


def run(ctx: RunContext, method: str, seed: int, output: Path) -> dict[str, Any]:
    s = ctx.settings
    removal = s.get("removal") or {}
    variant = variant_of(s, method)
    method_fn = get_method(variant.method)
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
    # tokens_replaced configures the perturbation, not the method: it leaves the hyperparameters here.
    perturbation = TokenReplacement(
        encoder.replacement_pool(), encoder.special_ids(), int(hp.pop("tokens_replaced", 1))
    )
    attach_bank(hp, meta)
    candidates = removal_candidates(
        data.train.targets, target, seed, bool(removal.get("single_label_only", True))
    )
    total = min(int(removal["removals"]), len(candidates))
    if total <= 0:
        raise ValueError(f"no training provision carries only the label {variant.target!r}")
    schedule = checkpoint_schedule(total, int(removal.get("checkpoint_every", max(1, total // 5))))
    task = _TextTask(
        ctx,
        data,
        train,
        loss,
        target,
        dev_ids,
        test_ids,
        perturbation,
        seed=seed,
        weight_decay=weight_decay,
    )
    plan = RemovalPlan.one_by_one(
        candidates,
        len(train),
        schedule,
        seed=seed,
        retain_stream=_RETAIN_STREAM,
        retain_sample=removal.get("retain_sample"),
    )
    result = run_removals(model, task, plan, method_fn, hyperparameters=hp, device=ctx.device)
    checkpoints = result.checkpoints
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
        "checkpoints": checkpoints,
        "metrics": {k: checkpoints[-1][k] for k in ("removals", "micro_f1", "class_f1")},
        **unchanged_summary(result.unchanged),
        "seconds": result.seconds,
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
