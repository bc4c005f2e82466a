"""Markov blanket of a target among side attributes, and accuracy within attribute subgroups.

L-CODEC Fig. 4: among CelebA's attributes, FOCI / L-FOCI (Azadkia & Chatterjee's greedy
selection with CODEC) finds the smallest set ``S`` such that the target is conditionally
independent of the other attributes given ``S``: its estimated Markov blanket. Only
those attributes then need a regulariser. :func:`subgroup_accuracy` measures what the
figure plots: accuracy on the samples *with* an attribute and on those *without* it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class BlanketSelection:
    names: list[str]  # selected attributes, in selection order
    statistics: list[float]  # T_n(Y, X_S) after each step
    candidates: list[str]  # attributes that were considered (non-constant ones)
    dropped_constant: list[str]  # attributes constant on the data (FOCI cannot use them)


def markov_blanket(
    target: np.ndarray,
    attributes: np.ndarray,
    names: Sequence[str],
    *,
    method: str = "lfoci",
    seed: int = 0,
    max_features: int | None = None,
) -> BlanketSelection:
    """FOCI (``foci``) or L-FOCI (``lfoci``) of ``target`` [N] on ``attributes`` [N, k]."""
    from unlearnbench.dependence import foci, lfoci

    target = np.asarray(target, dtype=float)
    attributes = np.asarray(attributes, dtype=float)
    if attributes.ndim != 2 or attributes.shape[0] != target.shape[0] or attributes.shape[1] != len(names):
        raise ValueError(
            f"attributes must be [N, {len(names)}] with N = {target.shape[0]}, got {attributes.shape}"
        )
    if np.ptp(target) == 0:
        raise ValueError("the target is constant: it has no Markov blanket to find")
    varying = np.flatnonzero(np.ptp(attributes, axis=0) > 0)
    if varying.size == 0:
        raise ValueError("every attribute is constant on these samples")
    selector = {"foci": foci, "lfoci": lfoci}.get(method)
    if selector is None:
        raise ValueError(f"method must be foci or lfoci, got {method!r}")
    result = selector(target, attributes[:, varying], max_features=max_features, seed=seed)
    return BlanketSelection(
        names=[names[int(varying[i])] for i in result.selected],
        statistics=[float(v) for v in np.asarray(result.statistics, dtype=float).ravel()],
        candidates=[names[int(i)] for i in varying],
        dropped_constant=[names[i] for i in range(len(names)) if i not in set(varying.tolist())],
    )


def subgroup_accuracy(
    predicted: np.ndarray, truth: np.ndarray, attributes: np.ndarray, names: Sequence[str]
) -> dict[str, dict[str, float | int | None]]:
    """Per attribute: accuracy (and count) on samples with it (``> 0``) and without it."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if predicted.shape != truth.shape:
        raise ValueError(f"predictions {predicted.shape} and labels {truth.shape} differ in shape")
    correct = predicted == truth
    out: dict[str, dict[str, float | int | None]] = {}
    for j, name in enumerate(names):
        has = np.asarray(attributes)[:, j] > 0
        out[name] = {
            "with": float(correct[has].mean()) if has.any() else None,
            "without": float(correct[~has].mean()) if (~has).any() else None,
            "n_with": int(has.sum()),
            "n_without": int((~has).sum()),
        }
    return out
