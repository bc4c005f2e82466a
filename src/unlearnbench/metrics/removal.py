"""The metrics of one checkpoint of a removal, the same set for every removal kind and method.

A removal experiment (sequential MNIST, the CIFAR zoo, faces, text, re-ID) asks the same
questions of the model after each batch of removals, whatever method produced it:

- how well it still does its task on the removed samples, the retained ones and unseen
  ones (``forget_``, ``residual_``, ``test_`` + the score's name; top-1 accuracy unless the
  task supplies its own score);
- how far it is from a stationary point of the retain objective: the retain-set gradient
  norm of the data loss and of the regularised objective (``residual_gradient_norm_data``,
  ``residual_gradient_norm_regularised``; see :func:`residual_gradient_norms`);
- whether an attacker can still tell the removed samples from unseen ones: the
  loss-threshold AUC (``mia_auc``) and SalUn's SVC attack (``mia_svc_efficacy``,
  :mod:`unlearnbench.metrics.privacy`), both against the same held-out unseen samples;
- where a model retrained without the removed samples exists (``reference``), how far the
  unlearned model is from it: the score gaps ``<set>_<score>_gap_to_retrain`` (unlearned minus
  retrained, signed), the parameter distance and the output KL on the test set.

A task says what the set is computed on with one :class:`MetricInputs` per checkpoint (the
removal engine asks its task for it and calls :func:`removal_metrics`; the task's own extra
metrics sit beside the set in the checkpoint row). :func:`metric_names` lists the keys.

Nothing here draws from a global random state (the runs' numbers depend on the order of
those draws): the SVC attack's subsample comes from its own seeded Generator. A metric that
is undefined (nothing removed yet, an empty set) is ``None``, so run JSONs stay standard JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from unlearnbench.batching import as_tensors
from unlearnbench.metrics.classification import logits_kl, parameter_distance, predict_logits, top1_accuracy
from unlearnbench.metrics.gradients import LossFn, dataset_gradient, gradient_norm
from unlearnbench.metrics.privacy import (
    SVC_MAX_SHADOW,
    attack_features,
    membership_auc,
    per_sample_cross_entropy,
    svc_mia_efficacy,
)

#: ``(model, dataset, *, batch_size, device) -> logits (n, classes)``, in eval mode, on the CPU.
Predict = Callable[..., torch.Tensor]
#: ``(logits, labels) -> score`` of one set (higher is better), e.g. top-1 accuracy.
Score = Callable[[torch.Tensor, torch.Tensor], float]
#: ``(model, dataset, *, device) -> per-sample losses`` of the loss-threshold attack.
SampleLosses = Callable[..., np.ndarray]
#: ``(logits, labels) -> (n,) confidence in the true label``, the SVC attack's feature.
Confidence = Callable[[torch.Tensor, torch.Tensor], np.ndarray]


def true_class_confidence(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Softmax probability of each sample's label (single-label classifiers), in double precision."""
    probabilities = torch.softmax(logits.double(), dim=1).numpy()
    return attack_features(probabilities, labels.numpy(), "confidence")[:, 0]


def residual_gradient_norms(
    model: nn.Module, loss_fn: LossFn, retain: Dataset, l2_lambda: float, *, batch_size: int, device: str
) -> dict[str, float]:
    """Both retain-set gradient norms, named: of the data loss, and of the regularised objective.

    ``residual_gradient_norm_data`` is ``||grad mean loss||`` (what the authors' code reports,
    there as a mean of minibatch norms); ``residual_gradient_norm_regularised`` adds
    ``lambda w``: the gradient of ``mean loss + lambda/2 ||w||^2``, the objective whose
    optimum the Newton removal step targets (and that retraining with weight decay minimises).
    Both come from one pass over the retain set.
    """
    gradient = dataset_gradient(model, loss_fn, retain, batch_size=batch_size, device=device)
    return {
        "residual_gradient_norm_data": gradient_norm(model, gradient),
        "residual_gradient_norm_regularised": gradient_norm(model, gradient, l2_lambda),
    }


def top_class_confidence(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Largest softmax probability of each sample, whatever its label (open-set tasks such as re-ID,
    whose unseen samples have no label among the classes), in double precision."""
    return torch.softmax(logits.double(), dim=1).max(dim=1).values.numpy()


@dataclass(frozen=True)
class MetricInputs:
    """What a task hands :func:`removal_metrics` at one checkpoint.

    ``forget`` holds the samples removed so far (may be empty), ``retain`` the training
    samples kept (or the fixed sample of them a kind evaluates on), ``test`` unseen data the
    task's score applies to (may be empty: that score is then None), ``heldout`` the unseen
    samples both attacks contrast with ``forget`` (a fixed subset of the test data).
    ``loss_fn(model, batch)`` is the task's mean training loss, ``l2_lambda`` the weight of
    ``lambda/2 ||w||^2`` in the regularised objective (the training weight decay).
    ``predict``, ``score``/``score_name``, ``sample_losses`` and ``confidence`` are the task's
    hooks; ``confidence=None`` leaves the SVC attack out (``mia_svc_efficacy`` None).
    ``test_logits`` are the model's logits of ``test`` when the task already has them (its own
    metrics read the same predictions), so they are not predicted again (None: predicted here).
    """

    forget: Dataset
    retain: Dataset
    test: Dataset
    heldout: Dataset
    loss_fn: LossFn
    l2_lambda: float
    batch_size: int = 1024
    predict: Predict = predict_logits
    score: Score = top1_accuracy
    score_name: str = "accuracy"
    sample_losses: SampleLosses = per_sample_cross_entropy
    confidence: Confidence | None = true_class_confidence
    test_logits: torch.Tensor | None = None


def metric_names(score_name: str = "accuracy", retrain: bool = False) -> tuple[str, ...]:
    """The keys :func:`removal_metrics` writes, in its order (``retrain``: with a retrained reference)."""
    sets = ("residual", "forget", "test")
    names = (
        *(f"{name}_{score_name}" for name in sets),
        "residual_gradient_norm_data",
        "residual_gradient_norm_regularised",
        "mia_auc",
        "mia_svc_efficacy",
    )
    if not retrain:
        return names
    gaps = tuple(f"{name}_{score_name}_gap_to_retrain" for name in ("forget", "residual", "test"))
    return (*names, *gaps, "distance_to_retrain", "output_kl_to_retrain")


def removal_metrics(
    model: nn.Module,
    inputs: MetricInputs,
    *,
    seed: int | Sequence[int],
    device: str = "cpu",
    reference: nn.Module | None = None,
    svc_max_shadow: int = SVC_MAX_SHADOW,
) -> dict[str, float | None]:
    """The checkpoint metrics of ``model`` on ``inputs`` (see the module docstring).

    ``seed`` seeds the SVC attack's own Generator (derive it from the run seed and the
    checkpoint); ``reference`` is the model retrained without ``inputs.forget``, if any.
    """
    i = inputs
    sets = {"forget": i.forget, "residual": i.retain, "test": i.test}
    given = {"test": i.test_logits}
    outputs = {
        name: _outputs(i.predict, model, data, i.batch_size, device, given.get(name))
        for name, data in sets.items()
    }
    removed = len(i.forget) > 0
    gradient_norms = residual_gradient_norms(
        model, i.loss_fn, i.retain, i.l2_lambda, batch_size=i.batch_size, device=device
    )
    row: dict[str, Any] = {
        f"residual_{i.score_name}": _score(i.score, outputs["residual"]),
        f"forget_{i.score_name}": _score(i.score, outputs["forget"]),
        f"test_{i.score_name}": _score(i.score, outputs["test"]),
        **gradient_norms,
        "mia_auc": membership_auc(model, i.forget, i.heldout, loss=i.sample_losses, device=device)
        if removed
        else None,
        "mia_svc_efficacy": (
            svc_mia_efficacy(
                _confidences(i.confidence, outputs["residual"]),
                _confidences(i.confidence, _outputs(i.predict, model, i.heldout, i.batch_size, device)),
                _confidences(i.confidence, outputs["forget"]),
                max_shadow=svc_max_shadow,
                seed=seed,
            )
            if removed and i.confidence is not None
            else None
        ),
    }
    if reference is not None:
        retrained = {
            name: _outputs(i.predict, reference, data, i.batch_size, device) for name, data in sets.items()
        }
        for name in sets:
            mine, theirs = _score(i.score, outputs[name]), _score(i.score, retrained[name])
            gap = None if mine is None or theirs is None else mine - theirs
            row[f"{name}_{i.score_name}_gap_to_retrain"] = gap
        row["distance_to_retrain"] = parameter_distance(model, reference)
        row["output_kl_to_retrain"] = (
            logits_kl(retrained["test"][0], outputs["test"][0]) if len(i.test) else None
        )
    return {key: _finite_or_none(value) for key, value in row.items()}


def _outputs(
    predict: Predict,
    model: nn.Module,
    dataset: Dataset,
    batch_size: int,
    device: str,
    logits: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(logits, labels)`` of a set (its ``logits`` when the task gives them, else predicted), or
    None for an empty one."""
    if len(dataset) == 0:
        return None
    if logits is None:
        logits = predict(model, dataset, batch_size=batch_size, device=device)
    elif len(logits) != len(dataset):
        raise ValueError(f"the given logits have {len(logits)} rows for a set of {len(dataset)} samples")
    return logits, as_tensors(dataset)[1]


def _score(score: Score, outputs: tuple[torch.Tensor, torch.Tensor] | None) -> float | None:
    return None if outputs is None else score(*outputs)


def _confidences(confidence: Confidence, outputs: tuple[torch.Tensor, torch.Tensor] | None) -> np.ndarray:
    """The SVC attack's feature of a set; an empty set gives none (the attack then names what is missing)."""
    return np.empty(0) if outputs is None else confidence(*outputs)


def _finite_or_none(value: Any) -> Any:
    """NaN -> None, so run JSONs stay standard JSON."""
    return None if isinstance(value, float) and math.isnan(value) else value
