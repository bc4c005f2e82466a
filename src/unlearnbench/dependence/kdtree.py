"""Nearest neighbours in low dimension with scipy's k-d tree (``cKDTree``), certified exact.

A brute-force pass costs ``O(n^2)`` per candidate; a k-d tree ``O(n log n)`` in a few
dimensions, which is what the R package FOCI gets from RANN. For each candidate ``j`` a tree
is built on ``[base, candidates[:, j]]`` and asked for each row's 3 nearest rows (the row
itself and two others).

The tree is only trusted as a shortlist. The squared distances to the returned rows are
recomputed here in the order of :func:`unlearnbench.dependence.knn.squared_distances` (column
by column), so they are the same floats as on every other path. A row's answer is certified
when its nearest other row is strictly nearer than the second, and strictly nearer (by a
relative margin far above rounding) than the tree's bound for every row it did not return.
Everything else (exact ties, duplicates, near-ties within rounding) is returned as "to
repair": the caller resolves those rows with its dense rule, so the tie-breaking is the one
of every other path.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

# Relative margin between a certified distance and the tree's bound for the rows it did not
# return: the tree accumulates squares in its own order (a few ulps of difference, ~1e-15).
MARGIN = 1e-9
# Rows per leaf. Measured idle, 1 thread, 20,000 queries on 202,599 rows: 64 against scipy's default
# 16 was 2.0x faster on jittered binary data (9 columns, 3 neighbours), 1.9x (13 columns, 14), 1.7x
# on Gaussian data (6 columns, 3) and 1.4x (9 columns, 14); 128 was no faster than 64.
LEAF_SIZE = 64


def query_workers() -> int:
    """Threads for a tree query: torch's thread count, so that one setting bounds every thread pool.

    The answers do not depend on it (each row's query is independent); a 1-thread comparison
    (``torch.set_num_threads(1)``) stays on one thread.
    """
    return max(1, torch.get_num_threads())


def kdtree_neighbours(
    base: np.ndarray, column: np.ndarray, workers: int | None = None, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest other row in ``[base, column]``; returns ``(m,)`` int64 answers and the rows to repair.

    ``base`` is ``(n, s)`` float64 (``s`` may be 0), ``column`` ``(n,)``; ``rows`` (default all)
    are the rows asked about, ``m`` of them. ``workers`` is passed to ``cKDTree.query`` (default
    :func:`query_workers`).
    """
    n, s = base.shape
    points = np.empty((n, s + 1), dtype=np.float64)
    points[:, :s] = base
    points[:, s] = column
    k = min(3, n)
    tree = cKDTree(points, leafsize=LEAF_SIZE, balanced_tree=False, compact_nodes=False, copy_data=False)
    asked = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    tree_d, idx = tree.query(points[asked], k=k, workers=workers or query_workers())
    exact = _exact_squared(points, asked, idx)
    at = np.arange(asked.size)
    exact[idx == asked[:, None]] = np.inf  # the row itself (or, among duplicates, maybe not returned)
    pick = np.argmin(exact, axis=1)
    best = exact[at, pick]
    exact[at, pick] = np.inf
    second = exact.min(axis=1)
    if k == n:  # every row was returned: uniqueness among them is the whole certificate
        certified = (best < second) & np.isfinite(best)
    else:
        # every row the tree did not return is at least as far (in its arithmetic) as its last one
        bound = tree_d[:, -1] ** 2
        certified = (best < second) & (best * (1.0 + MARGIN) < bound * (1.0 - MARGIN)) & np.isfinite(best)
    return idx[at, pick].astype(np.int64), ~certified


def _exact_squared(points: np.ndarray, asked: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Squared distances of rows ``asked`` to the rows ``idx`` (``(m, k)``), column by column."""
    q = points[asked]
    out = (q[:, None, 0] - points[idx, 0]) ** 2
    for col in range(1, points.shape[1]):
        out += (q[:, None, col] - points[idx, col]) ** 2
    return out
