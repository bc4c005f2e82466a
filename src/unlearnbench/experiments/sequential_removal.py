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
  the distance to the retrained model (parameters, output KL);
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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.captions import with_hessian_note
from unlearnbench.data import DatasetSplits, load_dataset
from unlearnbench.experiments.base import ModelRef, RunContext, pretraining_owner
from unlearnbench.experiments.unchanged import unchanged_entry, unchanged_summary
from unlearnbench.metrics.classification import accuracy, output_kl, parameter_distance
from unlearnbench.metrics.gradients import dataset_gradient_norm, sample_gradient_norm, sample_loss
from unlearnbench.metrics.privacy import membership_auc
from unlearnbench.models import build_model, load_model, save_model
from unlearnbench.models.classifiers import cross_entropy_loss
from unlearnbench.newton.gradient_bank import META_KEY, GradientBankCallback, store_in_meta
from unlearnbench.newton.settings import fill_authors_noise_n
from unlearnbench.provenance import provenance
from unlearnbench.storage import read_json, write_json
from unlearnbench.timing import Stopwatch
from unlearnbench.training import OptimizerSpec, fit, seed_everything
from unlearnbench.unlearning import UnlearningRequest, get_method

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


def _clean(value: Any) -> Any:
    """NaN -> None, so run JSONs stay standard JSON."""
    return None if isinstance(value, float) and math.isnan(value) else value


class _Evaluator:
    """Metrics of one checkpoint; everything but the model is fixed per run."""

    def __init__(self, ctx: RunContext, data: DatasetSplits, seed: int) -> None:
        self.ctx, self.data, self.seed = ctx, data, seed
        evaluation = ctx.settings.get("evaluation") or {}
        self.batch_size = int(evaluation.get("batch_size", 1024))
        n_test = len(data.test)
        n_heldout = min(n_test, int(evaluation.get("mia_heldout", 1000)))
        # the regularised objective is mean loss + lambda/2 ||w||^2 with the training weight decay
        # (what SGD/Adam with weight_decay minimise, and the Newton step's default l2_lambda)
        self.l2_lambda = float(ctx.settings["training"]["optimizer"].get("weight_decay", 0.0))
        heldout = np.random.default_rng([seed, _HELDOUT_STREAM]).permutation(n_test)[:n_heldout]
        self.heldout = Subset(data.test, heldout.tolist())

    def __call__(
        self,
        model: nn.Module,
        removed: Sequence[int],
        retain: Sequence[int],
        reference: nn.Module | None = None,
    ) -> dict[str, Any]:
        device, bs, train = self.ctx.device, self.batch_size, self.data.train
        retain_set, forget_set = Subset(train, list(retain)), Subset(train, list(removed))
        row: dict[str, Any] = {
            "removals": len(removed),
            "residual_accuracy": accuracy(model, retain_set, batch_size=bs, device=device),
            "forget_accuracy": accuracy(model, forget_set, batch_size=bs, device=device) if removed else None,
            "test_accuracy": accuracy(model, self.data.test, batch_size=bs, device=device),
            **residual_gradient_norms(model, retain_set, self.l2_lambda, batch_size=bs, device=device),
            "mia_auc": membership_auc(model, forget_set, self.heldout, device=device) if removed else None,
        }
        if reference is not None:
            row["distance_to_retrain"] = parameter_distance(model, reference)
            row["output_kl_to_retrain"] = output_kl(
                reference, model, self.data.test, batch_size=bs, device=device
            )
        return {k: _clean(v) for k, v in row.items()}


def residual_gradient_norms(
    model: nn.Module, retain: Dataset, l2_lambda: float, *, batch_size: int, device: str
) -> dict[str, float]:
    """Both retain-set gradient norms, named: of the data loss, and of the regularised objective.

    ``residual_gradient_norm_data`` is ``||grad mean loss||`` (what the authors' code reports,
    there as a mean of minibatch norms); ``residual_gradient_norm_regularised`` adds
    ``lambda w``: the gradient of ``mean loss + lambda/2 ||w||^2``, the objective whose
    optimum the Newton removal step targets (and that retraining with weight decay minimises).
    """
    data = dataset_gradient_norm(model, cross_entropy_loss, retain, batch_size=batch_size, device=device)
    regularised = dataset_gradient_norm(
        model, cross_entropy_loss, retain, batch_size=batch_size, device=device, l2_lambda=l2_lambda
    )
    return {"residual_gradient_norm_data": data, "residual_gradient_norm_regularised": regularised}


def _checkpoint_schedule(total: int, every: int) -> list[int]:
    if every <= 0:
        raise ValueError(f"checkpoint_every must be positive, got {every}")
    points = list(range(0, total + 1, every))
    return points if points[-1] == total else [*points, total]


def run(ctx: RunContext, method: str, seed: int, output: Path) -> dict[str, Any]:
    s = ctx.settings
    data = load_data(ctx)
    indices = training_indices(data.train.tensors[1], s.get("train_per_class"), seed)
    total = int(s["removals"])
    if not 0 < total < len(indices):
        raise ValueError(
            f"removals must lie in [1, {len(indices) - 1}] for {len(indices)} training samples, got {total}"
        )
    original, meta = load_model(ctx.model_path(ModelRef("original", seed)), ctx.device)
    if int(meta.get("n_train", len(indices))) != len(indices):
        raise ValueError(
            "the pretrained model was trained on a different subset; rebuild it (delete the checkpoint)"
        )
    order = removal_order(indices, seed)
    evaluate = _Evaluator(ctx, data, seed)
    schedule = _checkpoint_schedule(total, int(s.get("checkpoint_every", max(1, total // 10))))
    unchanged: list[dict[str, Any]] = []
    if method == "retrain":
        checkpoints, reverted, seconds = _run_retrain(
            ctx, data, original, indices, order, schedule, seed, evaluate
        )
    else:
        checkpoints, reverted, seconds, unchanged = _run_sequential(
            ctx, data, original, meta, indices, order, schedule, method, seed, evaluate
        )
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
        "original_train_seconds": meta.get("train_seconds"),
        "checkpoints": checkpoints,
        "reverted": reverted,
        **unchanged_summary(unchanged),
        "seconds": seconds,
        "provenance": provenance(config=ctx.config, seed=seed, device=ctx.device),
    }
    write_json(output, payload)
    return payload


def _retrainer(ctx: RunContext, data: DatasetSplits, seed: int):
    """``retrain_fn``: the original recipe and seed on a retain set."""

    def retrain(dataset: Dataset) -> nn.Module:
        return train_model(ctx, data, dataset, seed, description=f"{ctx.experiment} retrain seed {seed}")[0]

    return retrain


def _run_retrain(ctx, data, original, indices, order, schedule, seed, evaluate):
    """Retrain from scratch on the retain set of every checkpoint (the original at 0 removals)."""
    retrain = _retrainer(ctx, data, seed)
    method = get_method("retrain")
    checkpoints, total_seconds = [], 0.0
    for count in schedule:
        removed = order[:count].tolist()
        retain = np.setdiff1d(indices, order[:count]).tolist()
        if count == 0:
            model, seconds = original, 0.0
        else:
            request = UnlearningRequest(
                forget=Subset(data.train, removed),
                retain=Subset(data.train, retain),
                n_train=len(indices),
                loss_fn=cross_entropy_loss,
                device=torch.device(ctx.device),
                retrain_fn=retrain,
            )
            outcome = method(original, request)
            model, seconds = outcome.model, outcome.seconds
        row = evaluate(model, removed, retain)
        row["retrain_seconds"] = seconds
        total_seconds += seconds
        checkpoints.append(row)
    return checkpoints, [], total_seconds


def _run_sequential(
    ctx, data, original, meta, indices, order, schedule, method_name, seed, evaluate, authors_noise_n=None
):
    """Remove samples one batch at a time from the same model, evaluating at every checkpoint.

    ``authors_noise_n``: the ``orig_trainset_size`` of the authors' script for this experiment
    when it is not the library default (50000); used for ``noise: authors-code, noise_n: null``.
    Returns the checkpoints, the reverted removals, the seconds and the unchanged removals.
    """
    s = ctx.settings
    method = get_method(method_name)
    hp = method_hyperparameters(s, method_name)
    if authors_noise_n is not None:
        fill_authors_noise_n(hp, authors_noise_n)
    if hp.get("hessian") == "finite-difference":
        hp["gradient_bank"] = meta[META_KEY]
    batch = int(s.get("removal_batch", 1))
    revert_drop = s.get("revert_drop")
    retain_sample = s.get("retain_sample")
    retrain = _retrainer(ctx, data, seed) if s.get("retrain_reference") else None
    device = torch.device(ctx.device)
    generator = seed_everything(seed)
    retain_rng = np.random.default_rng([seed, _RETAIN_STREAM])
    train = data.train
    active = np.zeros(len(train), dtype=bool)
    active[indices] = True
    model = original
    removed: list[int] = []
    reverted: list[dict[str, Any]] = []
    unchanged: list[dict[str, Any]] = []
    window: dict[str, list[float]] = {key: [] for key in WINDOW_METRICS}
    checkpoints = [evaluate(model, removed, indices.tolist())]
    next_checkpoints = list(schedule[1:])
    previous_accuracy = accuracy(model, data.test, device=ctx.device) if revert_drop is not None else None
    total_seconds, position, attempts = 0.0, 0, 0
    total = schedule[-1]
    while len(removed) < total and position < len(order):
        chosen = [int(i) for i in order[position : position + min(batch, total - len(removed))]]
        position += len(chosen)
        attempts += 1
        active[chosen] = False
        retain_idx = np.flatnonzero(active)
        n_train = int(retain_idx.size) + len(chosen)
        hessian_idx = retain_idx
        if retain_sample is not None and retain_idx.size > int(retain_sample):
            hessian_idx = np.sort(retain_rng.choice(retain_idx, size=int(retain_sample), replace=False))
        forget = Subset(train, chosen)
        request = UnlearningRequest(
            forget=forget,
            retain=Subset(train, hessian_idx.tolist()),
            n_train=n_train,
            loss_fn=cross_entropy_loss,
            hyperparameters=hp,
            device=device,
            generator=generator,
        )
        before = sample_gradient_norm(model, cross_entropy_loss, forget, device=ctx.device)
        loss_before = sample_loss(model, cross_entropy_loss, forget, device=ctx.device)
        outcome = method(model, request)
        total_seconds += outcome.seconds
        if revert_drop is not None:
            new_accuracy = accuracy(outcome.model, data.test, device=ctx.device)
            if previous_accuracy - new_accuracy > float(revert_drop):
                active[chosen] = True  # the sample stays in the training set
                reverted.append(
                    {
                        "attempt": attempts,
                        "removals_so_far": len(removed),
                        "indices": chosen,
                        "accuracy_before": previous_accuracy,
                        "accuracy_after": new_accuracy,
                        "seconds": outcome.seconds,
                    }
                )
                continue
            previous_accuracy = new_accuracy
        model = outcome.model
        d = outcome.diagnostics
        entry = unchanged_entry(d, chosen, len(removed))
        if entry is not None:
            unchanged.append(entry)
        removed.extend(chosen)
        window["seconds_per_removal"].append(outcome.seconds / len(chosen))
        window["sample_gradient_norm_before"].append(before)
        window["sample_gradient_norm_after"].append(
            sample_gradient_norm(model, cross_entropy_loss, forget, device=ctx.device)
        )
        window["sample_loss_before"].append(loss_before)
        window["sample_loss_after"].append(sample_loss(model, cross_entropy_loss, forget, device=ctx.device))
        window["noise_sigma"].append(float(d.get("noise_sigma", float("nan"))))
        window["params_updated"].append(float(d.get("n_params_updated", float("nan"))))
        window["slices_selected"].append(float(d.get("n_slices_selected", float("nan"))))
        window["cg_iterations"].append(float(d.get("cg_iterations", float("nan"))))
        window["cg_residual"].append(float(d.get("cg_residual", float("nan"))))
        if next_checkpoints and len(removed) >= next_checkpoints[0]:
            next_checkpoints.pop(0)
            retain_now = np.flatnonzero(active).tolist()
            reference = None
            row_extra: dict[str, Any] = {}
            if retrain is not None:
                with Stopwatch(ctx.device) as watch:
                    reference = retrain(Subset(train, retain_now))
                row_extra["retrain_seconds"] = watch.seconds
            row = evaluate(model, removed, retain_now, reference)
            row.update(row_extra)
            row.update(
                {
                    key: _clean(float(np.nanmean(v))) if v and not np.all(np.isnan(v)) else None
                    for key, v in window.items()
                }
            )
            row["reverted_so_far"] = len(reverted)
            row["unchanged_so_far"] = len(unchanged)
            checkpoints.append(row)
            window = {key: [] for key in WINDOW_METRICS}
    return checkpoints, reverted, total_seconds, unchanged


# ---------------------------------------------------------------------------- artifacts' helpers


def experiments_for(config: Mapping[str, Any], artifact: str) -> dict[str, Mapping[str, Any]]:
    """Sequential-removal experiments whose ``artifact`` key (a name or a list) names ``artifact``."""
    found = {}
    for name, block in (config.get("experiments") or {}).items():
        if block.get("kind") != KIND:
            continue
        targets = block.get("artifact")
        targets = [targets] if isinstance(targets, str) else list(targets or [])
        if artifact in targets:
            found[name] = block
    return found


def seeds_of(config: Mapping[str, Any], settings: Mapping[str, Any]) -> list[int]:
    """The experiment's own ``seeds`` when given (the paper averages Fig. 5 over 10, Fig. 6 over 8), else the profile's."""
    return [int(s) for s in (settings.get("seeds") or config["seeds"])]


def run_specs(config: Mapping[str, Any], artifact: str) -> list[RunSpec]:
    return [
        RunSpec(name, method, seed)
        for name, settings in experiments_for(config, artifact).items()
        for method in settings["methods"]
        for seed in seeds_of(config, settings)
    ]


CHECKPOINT_METRICS = (
    "residual_accuracy",
    "forget_accuracy",
    "test_accuracy",
    "residual_gradient_norm_data",
    "residual_gradient_norm_regularised",
    "mia_auc",
    "distance_to_retrain",
    "output_kl_to_retrain",
    "retrain_seconds",
    *WINDOW_METRICS,
)


def checkpoint_frame(runs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (run, checkpoint), before averaging over seeds."""
    records = []
    for run_payload in runs:
        for row in run_payload["checkpoints"]:
            records.append(
                {
                    "experiment": run_payload["experiment"],
                    "dataset": run_payload["dataset"],
                    "stand_in": bool(run_payload["stand_in"]),
                    "weight_decay": run_payload["weight_decay"],
                    "method": run_payload["method"],
                    "seed": run_payload["seed"],
                    "removals": row["removals"],
                    "reverted_so_far": row.get("reverted_so_far", 0),
                    **{m: row.get(m) for m in CHECKPOINT_METRICS},
                }
            )
    frame = pd.DataFrame.from_records(records)
    metrics = [*CHECKPOINT_METRICS, "reverted_so_far"]
    frame[metrics] = frame[metrics].apply(pd.to_numeric, errors="coerce")
    return frame


def read_runs(run_files: Sequence[Path]) -> list[dict[str, Any]]:
    return [read_json(path) for path in run_files]


class SequentialRemovalFigure:
    """An artifact drawn from sequential-removal runs: metric curves against the number of removals.

    ``panels`` are ``(metric, axis label, log scale)``; every experiment that names the
    artifact contributes one curve per method (labelled with its weight decay when several
    experiments share the figure), with a band of one standard deviation over seeds.
    """

    paper = "l-codec"
    paper_dataset = "mnist"

    def __init__(self, name: str, title: str, panels: Sequence[tuple[str, str, bool]]) -> None:
        self.name = name
        self.title = title
        self.panels = list(panels)

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        return run_specs(config, self.name)

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        from unlearnbench.artifacts.summaries import summarise

        frame = checkpoint_frame(read_runs(run_files))
        keys = ["experiment", "dataset", "stand_in", "weight_decay", "method", "removals"]
        metrics = [m for m in (*CHECKPOINT_METRICS, "reverted_so_far") if frame[m].notna().any()]
        return summarise(frame, keys, metrics)

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        from unlearnbench.artifacts.figures import plt, save_figure
        from unlearnbench.artifacts.summaries import title_with_data_note

        fig, axes = plt.subplots(1, len(self.panels), figsize=(4.2 * len(self.panels), 3.4), squeeze=False)
        several = table["experiment"].nunique() > 1
        for ax, (metric, label, log) in zip(axes[0], self.panels, strict=True):
            column = f"{metric}_mean"
            for (experiment, wd, method), part in table.groupby(
                ["experiment", "weight_decay", "method"], sort=False
            ):
                if column not in part or part[column].isna().all():
                    continue
                x, y = part["removals"].to_numpy(), part[column].to_numpy(dtype=float)
                std = part[f"{metric}_std"].fillna(0.0).to_numpy(dtype=float)
                line = ax.plot(
                    x,
                    y,
                    marker="o",
                    markersize=3,
                    label=f"{method} [{experiment}, wd {wd:g}]" if several else method,
                )[0]
                ax.fill_between(x, y - std, y + std, color=line.get_color(), alpha=0.2)
            ax.set_xlabel("number of removals")
            ax.set_ylabel(label)
            if log:
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=7)
        seeds = int(table["n_seeds"].max()) if "n_seeds" in table and len(table) else 0
        fig.suptitle(
            title_with_data_note(
                f"{self.title} (profile {config.get('profile', '?')}, {seeds} seeds)", table
            ),
            fontsize=9,
        )
        fig.tight_layout(rect=(0, 0, 1, 0.88))
        save_figure(fig, outputs)

    def status(self, config: Mapping[str, Any]) -> str:
        from unlearnbench.data import dataset_base

        experiments = experiments_for(config, self.name)
        if not experiments:
            return "not configured in this profile"
        parts = []
        for name, s in experiments.items():
            base = dataset_base(s["dataset"], config.get("datasets"))
            data = (
                "paper data"
                if base == self.paper_dataset
                else f"STAND-IN: {base} instead of {self.paper_dataset}"
            )
            parts.append(
                f"{name} ({data}; {s['removals']} removals; {', '.join(s['methods'])}; "
                f"{len(seeds_of(config, s))} seeds)"
            )
        return with_hessian_note("configured: " + "; ".join(parts), experiments)
