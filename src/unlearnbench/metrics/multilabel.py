"""Multilabel F1 with per-label decision thresholds tuned on a development split.

The LEDGAR evaluation of the L-CODEC authors (``scrubbing_evaluation``): after every
removal, each label's threshold is chosen on the dev split as the one of 100 evenly
spaced values in [0, 1] that maximises that label's F1 (0.5 for labels with fewer than
``min_positives`` dev positives), then applied to the test split. The paper reports the
micro-F1 over all labels and the F1 of the removed label. A fixed threshold is available
too (``threshold: 0.5`` in the config), which does not let re-tuning hide a shift of the
removed label's scores.

The removal checkpoints' standard metric set (:mod:`unlearnbench.metrics.removal`) reads a
multilabel model through :func:`micro_f1_at` (its score) and :func:`label_vector_confidence`
(the SVC attack's feature).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F


def _check(truth: np.ndarray, scores: np.ndarray) -> None:
    if truth.shape != scores.shape or truth.ndim != 2:
        raise ValueError(
            f"truth and scores must be [N, labels] of the same shape, got {truth.shape} and {scores.shape}"
        )


def tune_thresholds(
    probabilities: np.ndarray, truth: np.ndarray, *, grid: int = 100, min_positives: int = 5
) -> np.ndarray:
    """Per-label threshold maximising that label's F1 on (``probabilities``, ``truth``).

    Among equally good thresholds the smallest wins (the authors' ``max`` over an
    increasing grid keeps the first maximum).
    """
    probabilities, truth = np.asarray(probabilities, dtype=float), np.asarray(truth) > 0.5
    _check(truth, probabilities)
    candidates = np.linspace(0.0, 1.0, grid)
    out = np.full(truth.shape[1], 0.5)
    for j in range(truth.shape[1]):
        if truth[:, j].sum() < min_positives:
            continue
        predicted = probabilities[:, j][:, None] > candidates[None, :]  # [N, grid]
        positive = truth[:, j][:, None]
        tp = (predicted & positive).sum(0)
        fp = (predicted & ~positive).sum(0)
        fn = (~predicted & positive).sum(0)
        denominator = 2 * tp + fp + fn
        f1 = np.divide(2 * tp, denominator, out=np.zeros(grid), where=denominator > 0)
        out[j] = candidates[int(np.argmax(f1))]
    return out


def f1_report(truth: np.ndarray, predicted: np.ndarray) -> dict[str, object]:
    """Micro-F1, macro-F1 and per-label F1 (0 where a label has no true or predicted positive)."""
    truth, predicted = np.asarray(truth) > 0.5, np.asarray(predicted) > 0.5
    _check(truth, predicted)
    tp = (truth & predicted).sum(0)
    fp = (~truth & predicted).sum(0)
    fn = (truth & ~predicted).sum(0)
    per_label = np.divide(
        2 * tp, 2 * tp + fp + fn, out=np.zeros(truth.shape[1]), where=(2 * tp + fp + fn) > 0
    )
    total = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = float(2 * tp.sum() / total) if total > 0 else 0.0
    return {"micro_f1": micro, "macro_f1": float(per_label.mean()), "per_label_f1": per_label.tolist()}


def decision_thresholds(
    dev_probabilities: np.ndarray, dev_truth: np.ndarray, n_labels: int, threshold: float | str = "dev-tuned"
) -> np.ndarray:
    """Per-label thresholds: ``dev-tuned`` (the authors', :func:`tune_thresholds`) or one fixed value."""
    if threshold == "dev-tuned":
        return tune_thresholds(dev_probabilities, dev_truth)
    if isinstance(threshold, (int, float)) and 0.0 <= float(threshold) <= 1.0:
        return np.full(n_labels, float(threshold))
    raise ValueError(f"threshold must be 'dev-tuned' or a number in [0, 1], got {threshold!r}")


def micro_f1_at(thresholds: np.ndarray) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """``score(logits, targets)``: the micro-F1 of ``sigmoid(logits) > thresholds`` (per label)."""
    cut = np.asarray(thresholds, dtype=float)[None, :]

    def score(logits: torch.Tensor, targets: torch.Tensor) -> float:
        return float(f1_report(targets.numpy(), torch.sigmoid(logits).numpy() > cut)["micro_f1"])

    return score


def label_vector_confidence(logits: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """The multilabel analogue of the true-class confidence: the geometric mean over labels of the
    probability given to each label's true value, ``exp(-mean_j BCE_j)`` (unweighted), in double precision.

    One number per sample, 1 when every label is predicted with certainty, as a single-label
    classifier's softmax probability of the label is; the geometric mean keeps it comparable
    across label counts.
    """
    losses = F.binary_cross_entropy_with_logits(logits.double(), targets.double(), reduction="none")
    return torch.exp(-losses.mean(dim=1)).numpy()


def evaluate_multilabel(
    dev_probabilities: np.ndarray,
    dev_truth: np.ndarray,
    test_probabilities: np.ndarray,
    test_truth: np.ndarray,
    threshold: float | str = "dev-tuned",
) -> dict[str, object]:
    """Test F1 report with thresholds ``dev-tuned`` (the authors') or one fixed value."""
    thresholds = decision_thresholds(dev_probabilities, dev_truth, np.asarray(test_truth).shape[1], threshold)
    report = f1_report(test_truth, np.asarray(test_probabilities) > thresholds[None, :])
    report["thresholds"] = thresholds.tolist()
    return report
