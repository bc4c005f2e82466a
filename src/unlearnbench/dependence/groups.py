"""Nearest neighbours on tied (discrete) data by grouping identical rows, never expanding the ties.

On discrete data (CelebA's binary attributes, integer codes) most rows have exact duplicates.
Every duplicate of a row is at distance 0 and every other row at a positive distance, so the
tie set of a row with ``t >= 1`` duplicates is exactly its duplicates, and the rule of
:mod:`.knn` (the ``floor(u_i * t)``-th of the tied rows in increasing index order) needs only
the row's rank among its duplicates: no distance is computed. Rows without a duplicate are
returned as "to repair" (the caller resolves them with a dense pass over their own rows only).

The space of candidate ``j`` is ``[base, candidates[:, j]]``: its row patterns are the pairs
(base pattern, value of column ``j``), so the base is grouped once per call and each candidate
costs one code lookup, one ``bincount`` and one stable integer sort (a radix sort while the
pattern count fits in 16 bits): ``O(n)`` per candidate instead of a dense ``O(n^2)`` pass.

Exactness: identical patterns are identical floats, so their distance is exactly 0; distinct
patterns differ in some coordinate, and the check :func:`separated`
rules out the one way their squared distance could still round to 0 (underflow).
"""

from __future__ import annotations

import numpy as np

# Above this many possible patterns per candidate (base patterns x values of the candidate) the
# grouping stops paying: the data are not discrete enough, another path is used.
MAX_PATTERNS = 1 << 16
# Rows sampled to guess cheaply whether a column is discrete (a continuous column has no repeats).
SAMPLE_ROWS = 256


class BaseGroups:
    """The base columns' row patterns: ``codes`` ``(n,)`` int64 and ``count`` distinct patterns."""

    def __init__(self, base: np.ndarray) -> None:
        n, s = base.shape
        if s == 0:
            self.codes = np.zeros(n, dtype=np.int64)
            self.patterns = np.zeros((1, 0), dtype=base.dtype)
        else:
            self.patterns, inverse = np.unique(base, axis=0, return_inverse=True)
            self.codes = inverse.reshape(-1).astype(np.int64)
        self.count = int(self.patterns.shape[0])
        self.separated = all(separated(np.unique(self.patterns[:, k])) for k in range(s))


def looks_discrete(column: np.ndarray) -> bool:
    """A cheap guess: repeated values among the first rows (never true for continuous data)."""
    head = column[:SAMPLE_ROWS]
    return np.unique(head).size < head.size


def column_codes(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each row's index into them."""
    values, inverse = np.unique(column, return_inverse=True)
    return values, inverse.reshape(-1).astype(np.int64)


def separated(values: np.ndarray) -> bool:
    """True when distinct sorted ``values`` differ by more than squares to 0 (no underflow).

    Two distinct patterns differ in some coordinate by at least that column's smallest gap, so
    when every column passes, distinct patterns are at a positive squared distance.
    """
    return values.size < 2 or bool((np.diff(values) ** 2 > 0).all())


def grouped_neighbours(
    groups: BaseGroups, values: np.ndarray, codes: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Neighbours in ``[base, column]`` for rows with a duplicate; the mask of rows left to repair.

    ``values``/``codes`` describe the candidate column (:func:`column_codes`), ``u`` the
    tie-breaking uniforms. Returns ``(n,)`` int64 neighbours (valid where the mask is False) and
    the ``(n,)`` bool mask of rows without a duplicate.
    """
    n = codes.shape[0]
    width = values.shape[0]
    key = groups.codes * width + codes
    total = groups.count * width
    key = key.astype(np.uint16 if total <= 1 << 16 else np.int64)
    counts = np.bincount(key, minlength=total)
    order = np.argsort(key, kind="stable")  # rows by (pattern, index): a radix sort for uint16 keys
    start = np.cumsum(counts) - counts
    group_start = start[key]
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n) - start[key[order]]  # rank of each row among its duplicates
    ties = counts[key] - 1  # duplicates of each row: its tie set
    alone = ties == 0
    rank = np.floor(u * ties.astype(np.float64)).astype(np.int64)  # as knn._tie_rank
    rank = np.minimum(rank, np.maximum(ties - 1, 0))
    rank += rank >= position  # skip the row itself in its group's index order
    out = order[np.minimum(group_start + rank, n - 1)]
    out[alone] = 0
    return out.astype(np.int64), alone
