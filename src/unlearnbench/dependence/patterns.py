"""Nearest rows on jittered binary data, compiled: within a row's subgroup, else across level patterns.

L-FOCI jitters CelebA's binary attributes (noise of scale 1e-3), so every column holds two tight
clusters far apart. Give each row the level of every column (which cluster it sits in). For a
candidate ``j``, a row's *subgroup* is the rows sharing its level in every base column and in
``j``; any other row differs from it in some column ``c`` of ``base + [j]`` by at least that
column's gap between its clusters, so its squared distance is at least ``gap_c^2``, and at least
the sum of ``gap_c^2`` over every column where the levels differ.

That gives two exact searches for a (candidate, row) pair, both without a k-d tree in 20 to 40
dimensions (where, on the full-size stand-in table, the tree spent 57 of the 74 s of a late
L-FOCI step on exactly these rows):

* the row's subgroup holds other rows: its nearest among them is its nearest of all when it is
  nearer than the smallest ``gap_c^2`` of ``base + [j]``;
* the row is alone in its subgroup (common once many columns are selected): the level patterns
  that differ from the row's in a set ``D`` of columns are visited in increasing order of
  ``sum_{c in D} gap_c^2``, a lower bound of the distance to every row of that pattern, each
  looked up among the base groups by a binary search; the search stops once the next lower
  bound exceeds the best distance found.

Distances are the floats of :func:`unlearnbench.dependence.knn.squared_distances` (base columns
in order, the candidate's square last); a tie, a bound not cleared, or a search that visits more
than :data:`MAX_PATTERNS` patterns is flagged for the caller's dense repair. A column's two
clusters are split at the middle of its range; the gap is then measured, so any split is exact
and a poor one would only weaken the bounds (:meth:`LevelPatterns.of` declines data whose split
leaves a gap under half the range).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from unlearnbench.dependence.grid import torch_thread_count
from unlearnbench.dependence.kdtree import MARGIN  # a relative margin far above rounding (~1e-16)

# Level patterns one search may visit before it gives its pair to the dense repair. Measured at the
# full-size stand-in's last L-FOCI step (Male, 28 selected, 1 thread, compiling included where first):
# 2**11 84-97 s, 2**14 33 s, 2**16 18-21 s; a pair given up goes to a dense pass over every row.
MAX_PATTERNS = 1 << 16
# Base columns a pattern key holds (one bit each in an int64).
MAX_BASE_COLUMNS = 62
# A column is two clusters when the gap at its middle is at least this share of its range.
MIN_GAP_SHARE = 0.5


def split_levels(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each column's level per row ``(n, k)`` uint8 and its squared gap ``(k,)``, or None.

    A column is split at the middle of its range; its gap is the distance between the largest
    value below and the smallest value above. None when a column's gap is under
    :data:`MIN_GAP_SHARE` of its range (not two clusters far apart). A constant column is one
    level, with an infinite gap (no row differs from another there). Not
    :func:`~unlearnbench.dependence.clusters.column_clusters`, which cuts up to 16 clusters by
    sorting every column: for two levels a pass without a sort gives the same split, and it runs
    every step (the 40 columns of the full-size table: 0.3 s for all of :meth:`LevelPatterns.of`
    against 0.65 s for the sorts alone).
    """
    low, high = columns.min(axis=0), columns.max(axis=0)
    middle = low + (high - low) / 2
    levels = (columns > middle).astype(np.uint8)
    gaps2 = np.full(columns.shape[1], np.inf)
    for k in range(columns.shape[1]):
        if high[k] == low[k]:
            continue
        upper = levels[:, k].astype(bool)
        gap = columns[upper, k].min() - columns[~upper, k].max()
        if not gap >= MIN_GAP_SHARE * (high[k] - low[k]):
            return None
        gaps2[k] = gap * gap
    return levels, gaps2


@dataclass
class LevelPatterns:
    """Rows grouped by their base levels, with what the searches need (see the module doc).

    ``keys`` are the base groups' level patterns (bit ``c``: base column ``c``), sorted; group
    ``g`` holds the rows ``members[starts[g] : starts[g + 1]]``, in increasing row index, and
    ``position`` is each row's place in ``members``. The values and levels are stored in that
    order, so that a search reads a group's rows from contiguous memory.
    """

    base: np.ndarray  # (n, s) float64, in member order
    candidates: np.ndarray  # (c, n) float64, in member order
    candidate_levels: np.ndarray  # (c, n) uint8, in member order
    base_gaps2: np.ndarray  # (s,)
    candidate_gaps2: np.ndarray  # (c,)
    keys: np.ndarray  # (G,) int64, sorted
    starts: np.ndarray  # (G + 1,) int64
    members: np.ndarray  # (n,) int64
    position: np.ndarray  # (n,) int64
    group: np.ndarray  # (n,) int64, each row's group

    @classmethod
    def of(cls, base: np.ndarray, candidates: np.ndarray) -> LevelPatterns | None:
        """The patterns of ``base`` ``(n, s)``, ``1 <= s <=`` :data:`MAX_BASE_COLUMNS`, and the
        candidates ``(n, c)``; None unless every column is two clusters far apart."""
        n, s = base.shape
        if not 1 <= s <= MAX_BASE_COLUMNS:
            return None
        base_split = split_levels(base)
        cand_split = split_levels(candidates) if base_split is not None else None
        if base_split is None or cand_split is None:
            return None
        base_levels, base_gaps2 = base_split
        row_keys = base_levels.astype(np.int64) @ (np.int64(1) << np.arange(s, dtype=np.int64))
        keys, group = np.unique(row_keys, return_inverse=True)
        members = np.argsort(group, kind="stable").astype(np.int64)
        position = np.empty(n, dtype=np.int64)
        position[members] = np.arange(n)
        starts = np.zeros(keys.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(group, minlength=keys.size), out=starts[1:])
        return cls(
            np.ascontiguousarray(base[members], dtype=np.float64),
            np.ascontiguousarray(candidates[members].T, dtype=np.float64),
            np.ascontiguousarray(cand_split[0][members].T),
            base_gaps2,
            cand_split[1],
            keys,
            starts,
            members,
            position,
            group.astype(np.int64),
        )

    def group_sizes(self) -> np.ndarray:
        """Rows in each row's base group ``(n,)``."""
        return np.diff(self.starts)[self.group]

    def search(self, cand_idx: np.ndarray, row_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest other row for each (candidate, row) pair: ``(m,)`` rows and ``(m,)`` flags.

        A flagged pair (a tie, a bound not cleared, a search too long) has no certified answer.
        """
        order = np.argsort(self.base_gaps2, kind="stable")
        flips = (np.int64(1) << order.astype(np.int64)).astype(np.int64)
        # pairs by group, then candidate: consecutive searches scan the same rows while in cache
        by_group = np.lexsort((cand_idx, self.group[row_idx]))
        cand_idx, row_idx = cand_idx[by_group], row_idx[by_group]
        found = np.empty(cand_idx.size, dtype=np.int64)
        flagged = np.empty(cand_idx.size, dtype=np.bool_)
        with torch_thread_count():
            _search_kernel(
                self.base,
                self.candidates,
                self.candidate_levels,
                self.base_gaps2[order],
                flips,
                self.candidate_gaps2,
                self.keys,
                self.starts,
                self.members,
                self.position,
                self.group,
                np.ascontiguousarray(cand_idx, dtype=np.int64),
                np.ascontiguousarray(row_idx, dtype=np.int64),
                found,
                flagged,
            )
        found[by_group], flagged[by_group] = found.copy(), flagged.copy()
        return found, flagged


@njit(parallel=True, cache=True)
def _search_kernel(  # noqa: ANN202, PLR0913
    base,  # noqa: ANN001
    cands,  # noqa: ANN001
    cand_levels,  # noqa: ANN001
    sorted_gaps2,  # noqa: ANN001
    flips,  # noqa: ANN001
    cand_gaps2,  # noqa: ANN001
    keys,  # noqa: ANN001
    starts,  # noqa: ANN001
    members,  # noqa: ANN001
    position,  # noqa: ANN001
    group,  # noqa: ANN001
    cand_idx,  # noqa: ANN001
    row_idx,  # noqa: ANN001
    found,  # noqa: ANN001
    flagged,  # noqa: ANN001
):
    s = base.shape[1]
    min_base = sorted_gaps2[0]
    for p in prange(cand_idx.size):
        j, q = cand_idx[p], position[row_idx[p]]  # q: the row's place in member order
        level = np.int64(cand_levels[j, q])
        # the row's subgroup: its base group, its level of the candidate
        g = group[row_idx[p]]
        best, best_at, ties = _scan(base, cands, cand_levels, starts[g], starts[g + 1], q, j, level)
        if best_at >= 0:
            found[p] = members[best_at]
            flagged[p] = ties > 1 or not best < min(min_base, cand_gaps2[j]) * (1.0 - MARGIN)
            continue
        # alone in its subgroup: level patterns by increasing lower bound; weights are the base
        # columns' squared gaps (sorted) and, at position s, the candidate's
        weights = np.empty(s + 1)
        key_flip = np.zeros(s + 1, dtype=np.int64)
        level_flip = np.zeros(s + 1, dtype=np.int64)
        pos = 0
        for k in range(s):
            if pos == k and cand_gaps2[j] <= sorted_gaps2[k]:
                weights[pos] = cand_gaps2[j]
                level_flip[pos] = 1
                pos += 1
            weights[pos] = sorted_gaps2[k]
            key_flip[pos] = flips[k]
            pos += 1
        if pos == s:
            weights[s] = cand_gaps2[j]
            level_flip[s] = 1
        heap = [(weights[0], 0, key_flip[0], level_flip[0])]
        visited = 0
        too_long = False
        while len(heap) > 0:
            bound, last, key_mask, level_mask = heapq.heappop(heap)
            if not bound * (1.0 - MARGIN) <= best:  # every pattern left is farther (inf: none left)
                break
            visited += 1
            if visited > MAX_PATTERNS:
                too_long = True
                break
            nxt = last + 1
            # the next subsets (weights ascending: never nearer): add the next column, or move the
            # last one on; a constant column (infinite weight) differs in no row, never visited
            if nxt <= s and math.isfinite(weights[nxt]):
                heapq.heappush(
                    heap, (bound + weights[nxt], nxt, key_mask ^ key_flip[nxt], level_mask ^ level_flip[nxt])
                )
                heapq.heappush(
                    heap,
                    (
                        bound - weights[last] + weights[nxt],
                        nxt,
                        key_mask ^ key_flip[last] ^ key_flip[nxt],
                        level_mask ^ level_flip[last] ^ level_flip[nxt],
                    ),
                )
            target = keys[g] ^ key_mask
            at = np.searchsorted(keys, target)
            if at < keys.size and keys[at] == target:
                d, where, t = _scan(
                    base, cands, cand_levels, starts[at], starts[at + 1], q, j, level ^ level_mask
                )
                if d < best:
                    best, best_at, ties = d, where, t
                elif d == best and where >= 0:
                    ties += t
        found[p] = members[best_at] if best_at >= 0 else -1
        flagged[p] = too_long or ties != 1


@njit(cache=True, inline="always")
def _scan(base, cands, cand_levels, first, stop, q, j, level):  # noqa: ANN001, ANN202
    """The nearest row to the row at ``q`` among places ``first:stop`` (member order) at ``level``
    of candidate ``j``: its squared distance, its place (-1: none) and how many rows are that near.

    A row is dropped once its partial sum exceeds the best: the sum only grows, so it could
    neither win nor tie; the rows it keeps are summed in full, in the order of every path.
    """
    best = math.inf
    best_at = -1
    ties = 0
    s = base.shape[1]
    for t in range(first, stop):
        if t == q or cand_levels[j, t] != level:
            continue
        d = (base[q, 0] - base[t, 0]) ** 2
        k = 1
        while k < s and d <= best:
            d += (base[q, k] - base[t, k]) ** 2
            k += 1
        if d > best:
            continue
        d += (cands[j, q] - cands[j, t]) ** 2
        if d < best:
            best, best_at, ties = d, t, 1
        elif d == best:
            ties += 1
    return best, best_at, ties
