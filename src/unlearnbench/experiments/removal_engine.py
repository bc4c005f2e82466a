"""The removal engine: one loop that removes training samples and evaluates at checkpoints.

Every removal experiment kind (sequential MNIST, the CIFAR zoo, faces, text, re-ID) does
the same thing: take a trained model, remove samples in a fixed order, a batch at a time,
with one unlearning method, and evaluate the model every so many removals; or, for the
``retrain`` baseline, retrain from scratch on the retain set of every checkpoint. What
differs between them is split in two:

- a :class:`RemovalPlan` says *what* is removed and *when* it is evaluated: the removal
  order, the checkpoint schedule, the batch size, the retain sample that the Hessian sees,
  the revert filter, whether each checkpoint also retrains a reference;
- a :class:`RemovalTask` is the model family: its training set (the rows the plan's
  indices name), its loss, what it reads of a checkpoint's model once for both of the
  following (``predict``), what the standard checkpoint metrics are computed on
  (``metric_inputs``: the sets, loss, score and attack features of
  :func:`unlearnbench.metrics.removal.removal_metrics`), its own extra checkpoint metrics,
  optionally a retrain with the original recipe, per-removal measurements, a validation
  accuracy for the revert filter, a window summary, and a ``perturbation`` for the methods'
  L-FOCI inputs.

The engine owns everything else, once: the random streams (``seed_everything(seed)``
gives the methods' generator; ``numpy.random.default_rng([seed, retain_stream])`` draws
the retain samples, one draw per removal whose retain set exceeds ``retain_sample``), the
``n`` of each request (the current training-set size), the revert filter, the record of
removals that changed nothing, and the checkpoint row: ``removals``, the standard metric
set (the same for every kind and method: scores on the removed, retained and test samples,
both residual gradient norms, two membership-inference attacks, the gaps to a retrained
reference when there is one; the SVC attack's subsample seeded by ``[seed, SVC_STREAM,
removals]``), the task's own metrics, ``retrain_seconds`` when a reference was retrained,
then the task's window summary; NaN is written as null. The order of every call is part of the contract: run
JSONs are compared bit for bit across refactorings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from unlearnbench.experiments.unchanged import unchanged_entry, unchanged_summary
from unlearnbench.metrics.removal import MetricInputs, removal_metrics
from unlearnbench.timing import Stopwatch
from unlearnbench.training import seed_everything
from unlearnbench.unlearning import UnlearningOutcome, UnlearningRequest, get_method

LossFn = Callable[[nn.Module, Any], torch.Tensor]
#: What the engine calls for one removal: a registered method, or any callable with its signature.
Method = Callable[[nn.Module, UnlearningRequest], UnlearningOutcome]
#: ``skip(count, retain) -> reason``: a retrain checkpoint to leave out (None: retrain it).
SkipHook = Callable[[int, Sequence[int]], str | None]
#: The stream of the SVC attack's seed, ``[seed, SVC_STREAM, removals]`` (the kinds' streams are below 30).
SVC_STREAM = 31


def checkpoint_schedule(total: int, every: int) -> list[int]:
    """``0, every, 2 every, ..., total`` (total always included)."""
    if total <= 0:
        raise ValueError(f"the number of removals must be positive, got {total}")
    if every <= 0:
        raise ValueError(f"checkpoint_every must be positive, got {every}")
    points = list(range(0, total + 1, every))
    return points if points[-1] == total else [*points, total]


@dataclass(frozen=True)
class RemovalPlan:
    """What a run removes and when it evaluates.

    ``members`` are the rows of the task's training set that the model was trained on;
    ``order`` the members to remove, in order (a sequential run takes them front to back and
    stops after ``schedule[-1]`` kept removals or when the order runs out). ``schedule`` holds
    the removal counts at which to evaluate, 0 first. ``batch_size`` samples go into one
    request; ``retain_sample`` (None: all) bounds the retain set the method sees, re-drawn per
    removal from the stream ``[seed, retain_stream]``; ``revert_drop`` undoes a removal that
    lowers the task's validation accuracy by more than this (None: never);
    ``retrain_reference`` also retrains at every checkpoint of a sequential run.
    """

    order: tuple[int, ...]
    members: tuple[int, ...]
    schedule: tuple[int, ...]
    seed: int
    retain_stream: int
    batch_size: int = 1
    retain_sample: int | None = None
    revert_drop: float | None = None
    retrain_reference: bool = False

    def __post_init__(self) -> None:
        for name in ("order", "members", "schedule"):
            object.__setattr__(self, name, tuple(int(i) for i in getattr(self, name)))
        s = self.schedule
        if not s or s[0] != 0 or any(b <= a for a, b in zip(s, s[1:])):
            raise ValueError(f"the checkpoint schedule must start at 0 and increase strictly, got {list(s)}")
        if s[-1] <= 0 or s[-1] > len(self.order):
            raise ValueError(
                f"the last checkpoint ({s[-1]} removals) must lie in [1, {len(self.order)}] (the removal order)"
            )
        if len(set(self.order)) != len(self.order) or not set(self.order) <= set(self.members):
            raise ValueError("the removal order must name distinct members of the training set")
        if self.batch_size < 1:
            raise ValueError(f"removal_batch must be at least 1, got {self.batch_size}")
        if self.retain_sample is not None and int(self.retain_sample) < 1:
            raise ValueError(f"retain_sample must be at least 1 (or null), got {self.retain_sample}")

    @classmethod
    def one_by_one(
        cls,
        order: Sequence[int],
        n_train: int,
        schedule: Sequence[int],
        *,
        seed: int,
        retain_stream: int,
        retain_sample: int | None = None,
    ) -> RemovalPlan:
        """One sample per request from a training set of ``n_train`` rows, all of them members,
        no revert filter and no retrained reference (the text and re-ID kinds)."""
        return cls(
            order=tuple(order),
            members=tuple(range(n_train)),
            schedule=tuple(schedule),
            seed=seed,
            retain_stream=retain_stream,
            retain_sample=None if retain_sample is None else int(retain_sample),
        )

    @property
    def total(self) -> int:
        """The number of removals the run aims at."""
        return self.schedule[-1]


@dataclass(frozen=True)
class Removal:
    """One kept removal: its indices, the method's seconds and diagnostics, the task's measurements."""

    indices: tuple[int, ...]
    seconds: float
    diagnostics: Mapping[str, Any]
    measurements: Mapping[str, float]


@dataclass(frozen=True)
class Progress:
    """Counts a window summary may report: reverted and unchanged removals so far."""

    reverted: int
    unchanged: int


@dataclass
class RemovalRun:
    """What a run produced: the checkpoint rows, the final model and the logs of the run JSON."""

    checkpoints: list[dict[str, Any]]
    model: nn.Module
    seconds: float
    reverted: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        """The run-JSON fields of a removal run: checkpoints, reverted and unchanged removals, seconds."""
        return {
            "checkpoints": self.checkpoints,
            "reverted": self.reverted,
            **unchanged_summary(self.unchanged),
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint as a task evaluates it: the model, the rows of the training set removed so far
    and those kept, the model retrained without the removed rows (None: none), and what the task's
    :meth:`RemovalTask.predict` read of the model."""

    model: nn.Module
    removed: Sequence[int]
    retain: Sequence[int]
    reference: nn.Module | None = None
    predictions: Any = None


class RemovalTask(Protocol):
    """A model family as the engine sees it.

    A kind implements ``train``, ``loss_fn`` and ``metric_inputs``; the other members have
    defaults that a subclass inherits (no reading shared by the two metric sides, no extra
    metrics, no retrain, no perturbation, no measurements, no window summary, no revert filter).
    """

    #: the training set; the plan's indices are its rows
    train: Dataset
    #: the training loss ``loss_fn(model, batch) -> scalar``, handed to the method
    loss_fn: LossFn
    #: ``retrain(dataset) -> model``: the original recipe on a retain set (None: the family has none)
    retrain: Callable[[Dataset], nn.Module] | None = None
    #: passed to :class:`UnlearningRequest` as ``perturbation`` when not None
    perturbation: Any = None

    def predict(self, model: nn.Module) -> Any:
        """What both :meth:`metric_inputs` and :meth:`evaluate` read of a checkpoint's model (say, its
        predictions on the evaluation splits), computed once per checkpoint and handed to both as
        :attr:`Checkpoint.predictions`, so that no split is predicted twice (None by default)."""
        return None

    def metric_inputs(self, checkpoint: Checkpoint) -> MetricInputs:
        """What the standard checkpoint metrics are computed on (rows of ``train``)."""
        raise NotImplementedError(f"{type(self).__name__} does not say what its checkpoint metrics use")

    def evaluate(self, checkpoint: Checkpoint) -> dict[str, Any]:
        """The task's own metrics at a checkpoint, beside the standard set; a key of the standard
        set is refused."""
        return {}

    def measure_before(self, model: nn.Module, forget: Dataset) -> dict[str, float]:
        """Per-removal measurements on the model the method receives."""
        return {}

    def measure_after(self, model: nn.Module, forget: Dataset) -> dict[str, float]:
        """Per-removal measurements on the model a kept removal produced."""
        return {}

    def validation_accuracy(self, model: nn.Module) -> float:
        """What the revert filter compares before and after a removal."""
        raise ValueError("this experiment kind has no validation accuracy for revert_drop")

    def summarise_window(self, window: Sequence[Removal], progress: Progress) -> dict[str, Any]:
        """Checkpoint fields summarising the removals since the previous checkpoint."""
        return {}


def residual_pool(rows: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    """The fixed, sorted sample of training ``rows`` whose kept members a kind's checkpoint metrics
    read as the retain set (``evaluation.residual_sample``: all of them when ``size`` is None or
    not smaller), so that the retain-set metrics of a large training set stay affordable."""
    rows = np.asarray(rows, dtype=np.int64)
    if size is None or int(size) >= rows.size:
        return rows
    return np.sort(rng.choice(rows, size=int(size), replace=False))


def kept(pool: np.ndarray, retain: Sequence[int]) -> list[int]:
    """The rows of ``pool`` still in the training set."""
    return np.intersect1d(pool, np.asarray(retain, dtype=np.int64)).tolist()


#: What :func:`diagnostic_means` averages unless told otherwise (the re-ID and text kinds' windows).
MEAN_DIAGNOSTICS = ("seconds", "n_slices_selected", "n_params_updated", "noise_sigma")


def diagnostic_means(
    window: Sequence[Removal], keys: Sequence[str] = MEAN_DIAGNOSTICS
) -> dict[str, float | None]:
    """``mean_<key>`` over the window of the removals' ``seconds`` and diagnostics that are present.

    A removal that does not report a key is left out of its mean (None when no removal does).
    """
    out: dict[str, float | None] = {}
    records = [{"seconds": r.seconds, **r.diagnostics} for r in window]
    for key in keys:
        values = [float(w[key]) for w in records if w.get(key) is not None]
        out[f"mean_{key}"] = float(np.mean(values)) if values else None
    return out


def _clean(value: Any) -> Any:
    """NaN -> None, so run JSONs stay standard JSON."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _row(
    task: RemovalTask,
    model: nn.Module,
    removed: Sequence[int],
    retain: Sequence[int],
    *,
    seed: int,
    device: str,
    reference: nn.Module | None = None,
    retrain_seconds: float | None = None,
    summary: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The one checkpoint row: removals, the standard metric set, the task's own metrics, engine
    fields, the window summary."""
    checkpoint = Checkpoint(model, removed, retain, reference, task.predict(model))
    standard = removal_metrics(
        model,
        task.metric_inputs(checkpoint),
        seed=[seed, SVC_STREAM, len(removed)],
        device=device,
        reference=reference,
    )
    own = task.evaluate(checkpoint)
    clash = sorted(standard.keys() & own.keys())
    if clash:
        raise ValueError(
            f"{type(task).__name__}'s own checkpoint metrics {clash} are keys of the standard set"
        )
    row: dict[str, Any] = {"removals": len(removed), **standard, **own}
    if retrain_seconds is not None:
        row["retrain_seconds"] = retrain_seconds
    row.update(summary or {})
    return {k: _clean(v) for k, v in row.items()}


def _request(task: RemovalTask, **fields: Any) -> UnlearningRequest:
    if task.perturbation is not None:
        fields["perturbation"] = task.perturbation
    return UnlearningRequest(loss_fn=task.loss_fn, **fields)


def run_removals(
    model: nn.Module,
    task: RemovalTask,
    plan: RemovalPlan,
    method: Method,
    *,
    hyperparameters: Mapping[str, Any],
    device: str,
) -> RemovalRun:
    """Remove ``plan.order`` from ``model`` batch by batch with ``method``, evaluating on ``plan.schedule``.

    Each request's ``n_train`` is the training-set size before that removal, its retain set
    the remaining members (or a sample of them). A reverted removal is logged and its
    samples stay in the training set; the order moves on.
    """
    if plan.retrain_reference and task.retrain is None:
        raise ValueError("retrain_reference needs a retrain recipe, which this experiment kind does not have")
    train, torch_device = task.train, torch.device(device)
    generator = seed_everything(plan.seed)
    retain_rng = np.random.default_rng([plan.seed, plan.retain_stream])
    active = np.zeros(len(train), dtype=bool)  # type: ignore[arg-type]
    active[list(plan.members)] = True
    removed: list[int] = []
    reverted: list[dict[str, Any]] = []
    unchanged: list[dict[str, Any]] = []
    window: list[Removal] = []
    checkpoints = [_row(task, model, [], list(plan.members), seed=plan.seed, device=device)]
    next_checkpoints = list(plan.schedule[1:])
    previous_accuracy = task.validation_accuracy(model) if plan.revert_drop is not None else None
    total_seconds, position, attempts, total = 0.0, 0, 0, plan.total
    while len(removed) < total and position < len(plan.order):
        chosen = list(plan.order[position : position + min(plan.batch_size, total - len(removed))])
        position += len(chosen)
        attempts += 1
        active[chosen] = False
        retain_idx = np.flatnonzero(active)
        n_train = int(retain_idx.size) + len(chosen)
        if plan.retain_sample is not None and retain_idx.size > int(plan.retain_sample):
            retain_idx = np.sort(retain_rng.choice(retain_idx, size=int(plan.retain_sample), replace=False))
        forget = Subset(train, chosen)
        request = _request(
            task,
            forget=forget,
            retain=Subset(train, retain_idx.tolist()),
            n_train=n_train,
            hyperparameters=hyperparameters,
            device=torch_device,
            generator=generator,
        )
        measurements = task.measure_before(model, forget)
        outcome = method(model, request)
        total_seconds += outcome.seconds
        if previous_accuracy is not None:
            new_accuracy = task.validation_accuracy(outcome.model)
            if previous_accuracy - new_accuracy > float(plan.revert_drop):  # type: ignore[arg-type]
                active[chosen] = True  # the samples stay in the training set
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
        entry = unchanged_entry(outcome.diagnostics, chosen, len(removed))
        if entry is not None:
            unchanged.append(entry)
        removed.extend(chosen)
        measurements.update(task.measure_after(model, forget))
        window.append(Removal(tuple(chosen), outcome.seconds, outcome.diagnostics, measurements))
        if next_checkpoints and len(removed) >= next_checkpoints[0]:
            next_checkpoints.pop(0)
            retain_now = np.flatnonzero(active).tolist()
            reference, retrain_seconds = None, None
            if plan.retrain_reference:
                with Stopwatch(device) as watch:
                    reference = task.retrain(Subset(train, retain_now))  # type: ignore[misc]
                retrain_seconds = watch.seconds
            summary = task.summarise_window(window, Progress(len(reverted), len(unchanged)))
            checkpoints.append(
                _row(
                    task,
                    model,
                    list(removed),
                    retain_now,
                    seed=plan.seed,
                    device=device,
                    reference=reference,
                    retrain_seconds=retrain_seconds,
                    summary=summary,
                )
            )
            window = []
    return RemovalRun(checkpoints, model, total_seconds, reverted, unchanged)


def retrain_at_checkpoints(
    original: nn.Module,
    task: RemovalTask,
    plan: RemovalPlan,
    *,
    device: str,
    skip: SkipHook | None = None,
) -> RemovalRun:
    """The ``retrain`` baseline: retrain from scratch on the retain set of every checkpoint.

    At 0 removals the original is the retrained model (same recipe, same seed, all members).
    ``skip(count, retain)`` may name a reason to leave a checkpoint out; its row then holds
    only ``removals`` and ``skipped``. ``n_train`` of each request is the original training-set size.
    """
    if task.retrain is None:
        raise ValueError(
            "the retrain baseline needs a retrain recipe, which this experiment kind does not have"
        )
    method = get_method("retrain")
    members, order = np.asarray(plan.members, dtype=np.int64), np.asarray(plan.order, dtype=np.int64)
    checkpoints: list[dict[str, Any]] = []
    total_seconds, model = 0.0, original
    for count in plan.schedule:
        removed = order[:count].tolist()
        retain = np.setdiff1d(members, order[:count]).tolist()
        reason = skip(count, retain) if skip is not None else None
        if reason is not None:
            checkpoints.append({"removals": count, "skipped": reason})
            continue
        if count == 0:
            model, seconds = original, 0.0
        else:
            request = _request(
                task,
                forget=Subset(task.train, removed),
                retain=Subset(task.train, retain),
                n_train=len(members),
                device=torch.device(device),
                retrain_fn=task.retrain,
            )
            outcome = method(original, request)
            model, seconds = outcome.model, outcome.seconds
        checkpoints.append(
            _row(task, model, removed, retain, seed=plan.seed, device=device, retrain_seconds=seconds)
        )
        total_seconds += seconds
    return RemovalRun(checkpoints, model, total_seconds)
