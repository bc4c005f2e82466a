"""Multilabel F1 with per-label decision thresholds tuned on a development split.

The LEDGAR evaluation of the L-CODEC authors (``scrubbing_evaluation``): after every
removal, each label's threshold is chosen on the dev split as the one of 100 evenly
spaced values in [0, 1] that maximises that label's F1 (0.5 for labels with fewer than
``min_positives`` dev positives), then applied to the test split. The paper reports the
micro-F1 over all labels and the F1 of the removed label. A fixed threshold is available
too (``threshold: 0.5`` in the config), which does not let re-tuning hide a shift of the
removed label's scores.
"""

from __future__ import annotations

import numpy as np


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


def evaluate_multilabel(
    dev_probabilities: np.ndarray,
    dev_truth: np.ndarray,
    test_probabilities: np.ndarray,
    test_truth: np.ndarray,
    threshold: float | str = "dev-tuned",
) -> dict[str, object]:
    """Test F1 report with thresholds ``dev-tuned`` (the authors') or one fixed value."""
    if threshold == "dev-tuned":
        thresholds = tune_thresholds(dev_probabilities, dev_truth)
    elif isinstance(threshold, (int, float)) and 0.0 <= float(threshold) <= 1.0:
        thresholds = np.full(np.asarray(test_truth).shape[1], float(threshold))
    else:
        raise ValueError(f"threshold must be 'dev-tuned' or a number in [0, 1], got {threshold!r}")
    report = f1_report(test_truth, np.asarray(test_probabilities) > thresholds[None, :])
    report["thresholds"] = thresholds.tolist()
    return report
