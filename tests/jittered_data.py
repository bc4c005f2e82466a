"""Jittered binary tables and their dense nearest neighbours: what the tests of the searches on
L-FOCI's data (patterns.py, groupscan.py) compare against."""

from __future__ import annotations

import numpy as np
import torch

from unlearnbench.dependence import knn


def jittered_table(n: int, p: int, seed: int, rare: float = 0.05) -> np.ndarray:
    """Binary columns (some rare, so that many rows are alone in their subgroup), scaled as FOCI
    scales them, plus L-FOCI's noise, and a few exact duplicates (ties)."""
    rng = np.random.default_rng(seed)
    levels = rng.random(size=(n, p)) < np.linspace(rare, 0.5, p)
    x = levels.astype(float)
    x = (x - x.mean(0)) / x.std(0, ddof=1) + 1e-3 * rng.normal(size=(n, p))
    x[-3:] = x[:3]  # duplicates: exact ties, flagged
    return x


def dense_answers(x: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
    """For every candidate column after the first s: each row's nearest other row and whether it ties."""
    xt = torch.from_numpy(x)
    found, tied = [], []
    for j in range(s, x.shape[1]):
        pts = xt[:, list(range(s)) + [j]]
        d = knn.squared_distances(pts, pts)
        d.fill_diagonal_(float("inf"))
        best = d.min(dim=1).values
        found.append(d.argmin(dim=1).numpy())
        tied.append(((d == best[:, None]).sum(dim=1) > 1).numpy())
    return np.array(found), np.array(tied)
