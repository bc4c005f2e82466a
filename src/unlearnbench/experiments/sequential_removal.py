"""Experiment kind ``sequential-removal``: L-CODEC paper Fig. 5 (left), Fig. 6 and Fig. 10.

One classifier is pretrained per seed (``training.fit`` plus the gradient bank); each run
then removes training samples one at a time (or ``removal_batch`` at a time) from that
same model with one method, recording metrics every ``checkpoint_every`` removals. The
``retrain`` method instead retrains from scratch, with the same recipe and seed, on the
retain set of each checkpoint.

Choices the paper leaves open, each a key of the experiment block:

- ``train_per_class`` keeps that many training samples of each class (Fig. 6: 1000), taken
  from a permutation seeded by the run seed; the removal order is another seeded
  permutation of the kept samples, identical for every method of a seed;
- the validation accuracy of the figures is the test-split accuracy;
- ``revert_drop`` (off by default) is the authors' filter: a removal that lowers the
  validation accuracy by more than this fraction (0.05 in their scripts) is undone and the
  sample stays in the training set; every reverted removal is logged in the run JSON.
  With it, the curves no longer show what the method does on *every* requested removal;
- ``retain_sample`` evaluates the Hessian on a random subset of the retain set of that
  size (None: the whole retain set), to bound the cost of a removal on full MNIST;
- ``retrain_reference`` also retrains at each checkpoint of an unlearning run to measure
  the distance to the retrained model (parameters, output KL, accuracy gaps);
- the Newton hyperparameters are ``unlearning`` (shared) updated by ``methods.<name>``;
  ``l2_lambda`` defaults to the training weight decay, and ``n`` of the removal step is
  the current number of training points. The ``n`` of the noise formula is ``noise_n``;
  null means that same current number for ``noise: paper`` and, for ``noise: authors-code``,
  the fixed ``orig_trainset_size`` the authors' MNIST and CIFAR-10 scripts pass (50000,
  even when training on 10000 points);
- a removal that changed nothing (L-FOCI selected no slice under ``empty_selection:
  allow-empty``, or no slice could be scored) is listed in the run JSON's
  ``unchanged_removals`` (with its indices and the reason) and counted in
  ``n_unchanged_removals`` and in each checkpoint's ``unchanged_so_far``.

Per-removal quantities (seconds, the removed samples' gradient norms, noise sigma, number
of parameters and slices updated, CG iterations and residual) are averaged over the
removals since the previous checkpoint.

The loop is the removal engine's (:mod:`unlearnbench.experiments.removal_engine`);
:class:`ClassifierTask`, :func:`classifier_plan` and :func:`classifier_run` are this
kind's side of it, shared with the CIFAR zoo and face scrubbing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from unlearnbench.data import DatasetSplits, load_dataset
from unlearnbench.experiments.base import ModelRef, RunContext, pretraining_owner
from unlearnbench.experiments.removal_engine import (
    Checkpoint,
    Progress,
    Removal,
    RemovalPlan,
    RemovalRun,
    RemovalTask,
    SkipHook,
    checkpoint_schedule,
    retrain_at_checkpoints,
    run_removals,
)
from unlearnbench.metrics.classification import accuracy
from unlearnbench.metrics.gradients import sample_gradient_norm, sample_loss
from unlearnbench.metrics.removal import MetricInputs
from unlearnbench.models import build_model, load_model, save_model
from unlearnbench.models.classifiers import cross_entropy_loss
from unlearnbench.newton.gradient_bank import GradientBankCallback, attach_bank, store_in_meta
from unlearnbench.newton.settings import fill_authors_noise_n
from unlearnbench.provenance import provenance
from unlearnbench.storage import write_json
from unlearnbench.training import OptimizerSpec, fit, seed_everything
from unlearnbench.unlearning import get_method

KIND = "sequential-removal"
#: Seed offsets so the training subset, the removal order and the method's random stream
#: of one seed are independent of each other.
_SUBSET_STREAM, _ORDER_STREAM, _RETAIN_STREAM, _HELDOUT_STREAM = 1, 2, 3, 4
WINDOW_METRICS = (
    "seconds_per_removal",
    "sample_gradient_norm_before",
    "sample_gradient_norm_after",
    "sample_loss_before",
    "sample_loss_after",
    "noise_sigma",
    "params_updated",
    "slices_selected",
    "cg_iterations",
    "cg_residual",
)


# ---------------------------------------------------------------------------- the kind protocol


def datasets(settings: Mapping[str, Any]) -> list[str]:
    return [settings["dataset"]]


def pretrained(settings: Mapping[str, Any], method: str, seed: int) -> list[ModelRef]:
    # ``retrain`` reads the original too: it is the retrained model at 0 removals.
    return [ModelRef("original", seed, pretraining_owner(settings))]  # a reading block reuses its default's


def load_data(ctx: RunContext) -> DatasetSplits:
    s = ctx.settings
    return load_dataset(s["dataset"], ctx.config.get("datasets"), ctx.data_root, classes=s.get("classes"))


def training_indices(labels: torch.Tensor, per_class: int | None, seed: int) -> np.ndarray:
    """Indices of the training samples an experiment uses (all, or ``per_class`` of each class)."""
    n = int(labels.shape[0])
    if per_class is None:
        return np.arange(n)
    if per_class <= 0:
        raise ValueError(f"train_per_class must be positive, got {per_class}")
    order = np.random.default_rng([seed, _SUBSET_STREAM]).permutation(n)
    y = labels.numpy()[order]
    keep = []
    for cls in np.unique(y):
        members = order[y == cls]
        if members.size < per_class:
            raise ValueError(
                f"class {int(cls)} has only {members.size} training samples; train_per_class asks for {per_class}"
            )
        keep.append(members[:per_class])
    return np.sort(np.concatenate(keep))


def removal_order(train_indices: np.ndarray, seed: int) -> np.ndarray:
    """The order in which a seed's runs remove samples (the same for every method)."""
    return np.random.default_rng([seed, _ORDER_STREAM]).permutation(train_indices)


def model_kwargs(settings: Mapping[str, Any], data: DatasetSplits) -> dict[str, Any]:
    """Constructor arguments: the config's ``model.kwargs`` plus sizes read off the data."""
    spec = settings["model"]
    kwargs = dict(spec.get("kwargs") or {})
    c, h, w = data.image_shape
    if spec["name"] in ("logistic", "mlp"):
        kwargs.setdefault("n_features", int(c * h * w))
    if spec["name"] == "allcnn":
        kwargs.setdefault("in_channels", int(c))
    kwargs.setdefault("n_classes", len(data.classes))
    return kwargs


def train_model(
    ctx: RunContext,
    data: DatasetSplits,
    dataset: Dataset,
    seed: int,
    callbacks: Sequence[Any] = (),
    description: str = "training",
    resume_path: Path | None = None,
) -> tuple[nn.Module, float, float]:
    """The experiment's recipe: seeded init, then ``fit`` on ``dataset`` (original and retrain alike)."""
    s = ctx.settings
    train_cfg = s["training"]
    seed_everything(seed)
    model = build_model(s["model"]["name"], **model_kwargs(s, data))
    result = fit(
        model,
        cross_entropy_loss,
        dataset,
        epochs=int(train_cfg["epochs"]),
        batch_size=int(train_cfg["batch_size"]),
        optimizer=OptimizerSpec.from_config(train_cfg["optimizer"]),
        seed=seed,
        device=ctx.device,
        callbacks=callbacks,
        description=description,
        resume_path=resume_path,
    )
    return model.eval(), result.seconds, result.final_loss


def pretrain(ctx: RunContext, ref: ModelRef, output: Path) -> None:
    if ref.role != "original":
        raise ValueError(f"experiment kind {KIND} has no model role {ref.role!r}")
    data = load_data(ctx)
    indices = training_indices(data.train.tensors[1], ctx.settings.get("train_per_class"), ref.seed)
    bank = GradientBankCallback(cross_entropy_loss, int(ctx.settings["training"]["epochs"]), ctx.device)
    model, seconds, final_loss = train_model(
        ctx,
        data,
        Subset(data.train, indices.tolist()),
        ref.seed,
        [bank],
        f"{ctx.experiment} original seed {ref.seed}",
        resume_path=output.with_name(output.name + ".resume"),
    )
    meta: dict[str, Any] = {
        "experiment": ctx.experiment,
        "role": ref.role,
        "dataset": data.description,
        "stand_in": bool(data.stand_in),
        "n_train": len(indices),
        "train_seconds": seconds,
        "final_loss": final_loss,
        "test_accuracy": accuracy(model, data.test, device=ctx.device),
        "provenance": provenance(config=ctx.config, seed=ref.seed, device=ctx.device),
    }
    store_in_meta(meta, bank.bank)
    save_model(output, model, ctx.settings["model"]["name"], model_kwargs(ctx.settings, data), meta)


# ---------------------------------------------------------------------------- one run


def method_hyperparameters(settings: Mapping[str, Any], method: str) -> dict[str, Any]:
    """``unlearning`` (shared) updated by ``methods.<method>``; ``l2_lambda`` from the training recipe."""
    if method not in settings["methods"]:
        raise ValueError(
            f"method {method!r} is not configured for this experiment; configured: {list(settings['methods'])}"
        )
    hp = dict(settings.get("unlearning") or {})
    hp.update(settings["methods"][method] or {})
    hp.setdefault("l2_lambda", float(settings["training"]["optimizer"].get("weight_decay", 0.0)))
    return hp


class CheckpointEvaluation(Protocol):
    """A classifier kind's checkpoint side: what the standard metrics use, and its own metrics."""

    def metric_inputs(self, checkpoint: Checkpoint) -> MetricInputs: ...

    def evaluate(self, checkpoint: Checkpoint) -> dict[str, Any]: ...


class ClassifierEvaluation:
    """What the standard checkpoint metrics use; everything but the removed and retained rows is fixed per run.

    The retain set is every training sample kept, the test set the test split, the held-out
    samples of both membership attacks a seeded subset of it (``evaluation.mia_heldout``),
    the regularised objective ``mean loss + lambda/2 ||w||^2`` with the training weight decay
    (what SGD/Adam with weight_decay minimise, and the Newton step's default ``l2_lambda``).
    """

    def __init__(self, ctx: RunContext, data: DatasetSplits, seed: int) -> None:
        self.data = data
        evaluation = ctx.settings.get("evaluation") or {}
        self.batch_size = int(evaluation.get("batch_size", 1024))
        n_test = len(data.test)
        n_heldout = min(n_test, int(evaluation.get("mia_heldout", 1000)))
        self.l2_lambda = float(ctx.settings["training"]["optimizer"].get("weight_decay", 0.0))
        heldout = np.random.default_rng([seed, _HELDOUT_STREAM]).permutation(n_test)[:n_heldout]
        self.heldout = Subset(data.test, heldout.tolist())

    def metric_inputs(self, checkpoint: Checkpoint) -> MetricInputs:
        train = self.data.train
        return MetricInputs(
            forget=Subset(train, list(checkpoint.removed)),
            retain=Subset(train, list(checkpoint.retain)),
            test=self.data.test,
            heldout=self.heldout,
            loss_fn=cross_entropy_loss,
            l2_lambda=self.l2_lambda,
            batch_size=self.batch_size,
        )

    def evaluate(self, checkpoint: Checkpoint) -> dict[str, Any]:
        """Nothing beyond the standard set (the face kind adds its identity accuracies)."""
        return {}


#: Method diagnostics averaged per window, by the window metric they fill.
_WINDOW_DIAGNOSTICS = {
    "noise_sigma": "noise_sigma",
    "params_updated": "n_params_updated",
    "slices_selected": "n_slices_selected",
    "cg_iterations": "cg_iterations",
    "cg_residual": "cg_residual",
}


class ClassifierTask(RemovalTask):
    """The image classifiers of the L-CODEC kinds (MNIST, the CIFAR zoo, faces) as the engine's task.

    Cross-entropy; ``evaluation`` says what the standard checkpoint metrics use and adds the
    kind's own (:class:`ClassifierEvaluation`, or the face kind's); the revert filter compares
    test accuracies; each removal measures the removed samples'
    gradient norm and loss before and after, and a window reports the mean (NaN-skipping)
    of :data:`WINDOW_METRICS` with the reverted and unchanged removals so far.
    """

    def __init__(
        self,
        data: DatasetSplits,
        device: str,
        evaluation: CheckpointEvaluation,
        retrain: Callable[[Dataset], nn.Module] | None = None,
    ) -> None:
        self.train, self.test, self.device = data.train, data.test, device
        self.loss_fn = cross_entropy_loss
        self.evaluation = evaluation
        self.retrain = retrain

    def metric_inputs(self, checkpoint: Checkpoint) -> MetricInputs:
        return self.evaluation.metric_inputs(checkpoint)

    def evaluate(self, checkpoint: Checkpoint) -> dict[str, Any]:
        return self.evaluation.evaluate(checkpoint)

    def validation_accuracy(self, model: nn.Module) -> float:
        return accuracy(model, self.test, device=self.device)

    def measure_before(self, model: nn.Module, forget: Dataset) -> dict[str, float]:
        return {
            "sample_gradient_norm_before": sample_gradient_norm(
                model, cross_entropy_loss, forget, device=self.device
            ),
            "sample_loss_before": sample_loss(model, cross_entropy_loss, forget, device=self.device),
        }

    def measure_after(self, model: nn.Module, forget: Dataset) -> dict[str, float]:
        return {
            "sample_gradient_norm_after": sample_gradient_norm(
                model, cross_entropy_loss, forget, device=self.device
            ),
            "sample_loss_after": sample_loss(model, cross_entropy_loss, forget, device=self.device),
        }

    def summarise_window(self, window: Sequence[Removal], progress: Progress) -> dict[str, Any]:
        values: dict[str, list[float]] = {key: [] for key in WINDOW_METRICS}
        for removal in window:
            values["seconds_per_removal"].append(removal.seconds / len(removal.indices))
            for key, value in removal.measurements.items():
                values[key].append(value)
            for key, name in _WINDOW_DIAGNOSTICS.items():
                values[key].append(float(removal.diagnostics.get(name, float("nan"))))
        row: dict[str, Any] = {
            key: float(np.nanmean(v)) if v and not np.all(np.isnan(v)) else None for key, v in values.items()
        }
        row["reverted_so_far"] = progress.reverted
        row["unchanged_so_far"] = progress.unchanged
        return row


def retrainer(ctx: RunContext, data: DatasetSplits, seed: int) -> Callable[[Dataset], nn.Module]:
    """``retrain(dataset)``: the original recipe and seed on a retain set."""

    def retrain(dataset: Dataset) -> nn.Module:
        return train_model(ctx, data, dataset, seed, description=f"{ctx.experiment} retrain seed {seed}")[0]

    return retrain


def classifier_plan(
    settings: Mapping[str, Any],
    order: Sequence[int],
    members: Sequence[int],
    schedule: Sequence[int],
    seed: int,
) -> RemovalPlan:
    """The plan of the classifier kinds from the block's ``removal_batch``, ``retain_sample``,
    ``revert_drop`` and ``retrain_reference``."""
    retain_sample, revert_drop = settings.get("retain_sample"), settings.get("revert_drop")
    return RemovalPlan(
        order=tuple(order),
        members=tuple(members),
        schedule=tuple(schedule),
        seed=seed,
        retain_stream=_RETAIN_STREAM,
        batch_size=int(settings.get("removal_batch", 1)),
        retain_sample=None if retain_sample is None else int(retain_sample),
        revert_drop=None if revert_drop is None else float(revert_drop),
        retrain_reference=bool(settings.get("retrain_reference")),
    )


def classifier_run(
    ctx: RunContext,
    method: str,
    original: nn.Module,
    meta: Mapping[str, Any],
    task: ClassifierTask,
    plan: RemovalPlan,
    *,
    skip: SkipHook | None = None,
    authors_noise_n: int | None = None,
) -> RemovalRun:
    """One run of a classifier kind: the ``retrain`` baseline, or ``method`` with its configured hyperparameters.

    ``authors_noise_n``: the ``orig_trainset_size`` of the authors' script for this experiment
    when it is not the library default (50000); used for ``noise: authors-code, noise_n: null``.
    """
    if method == "retrain":
        return retrain_at_checkpoints(original, task, plan, device=ctx.device, skip=skip)
    method_fn = get_method(method)
    hp = method_hyperparameters(ctx.settings, method)
    if authors_noise_n is not None:
        fill_authors_noise_n(hp, authors_noise_n)
    attach_bank(hp, meta)
    return run_removals(original, task, plan, method_fn, hyperparameters=hp, device=ctx.device)


@dataclass(frozen=True)
class OriginalModel:
    """A seed's pretrained classifier with the training subset and removal order it was made for."""

    data: DatasetSplits
    indices: np.ndarray
    order: np.ndarray
    total: int
    model: nn.Module
    meta: dict[str, Any]


def load_original(ctx: RunContext, seed: int) -> OriginalModel:
    """The data, the seed's training subset and removal order, and the pretrained model, checked to match."""
    s = ctx.settings
    data = load_data(ctx)
    indices = training_indices(data.train.tensors[1], s.get("train_per_class"), seed)
    total = int(s["removals"])
    if not 0 < total < len(indices):
        raise ValueError(
            f"removals must lie in [1, {len(indices) - 1}] for {len(indices)} training samples, got {total}"
        )
    model, meta = load_model(ctx.model_path(ModelRef("original", seed)), ctx.device)
    if int(meta.get("n_train", len(indices))) != len(indices):
        raise ValueError(
            "the pretrained model was trained on a different subset; rebuild it (delete the checkpoint)"
        )
    return OriginalModel(data, indices, removal_order(indices, seed), total, model, meta)


def run(ctx: RunContext, method: str, seed: int, output: Path) -> dict[str, Any]:
    s = ctx.settings
    original = load_original(ctx, seed)
    data, indices = original.data, original.indices
    task = ClassifierTask(data, ctx.device, ClassifierEvaluation(ctx, data, seed), retrainer(ctx, data, seed))
    schedule = checkpoint_schedule(
        original.total, int(s.get("checkpoint_every", max(1, original.total // 10)))
    )
    plan = classifier_plan(s, original.order, indices, schedule, seed)
    result = classifier_run(ctx, method, original.model, original.meta, task, plan)
    payload = {
        "experiment": ctx.experiment,
        "kind": KIND,
        "method": method,
        "seed": seed,
        "dataset": data.description,
        "stand_in": bool(data.stand_in),
        "n_train": len(indices),
        "weight_decay": float(s["training"]["optimizer"].get("weight_decay", 0.0)),
        "settings": dict(s),
        "original_train_seconds": original.meta.get("train_seconds"),
        **result.fields(),
        "provenance": provenance(config=ctx.config, seed=seed, device=ctx.device),
    }
    write_json(output, payload)
    return payload
