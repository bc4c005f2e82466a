"""Nearest rows on jittered binary data, compiled: within a row's subgroup, else across level patterns.

L-FOCI jitters CelebA's binary attributes (noise of scale 1e-3), so every column holds two tight
clusters far apart. Give each row the level of every column (which cluster it sits in). For a
candidate ``j``, a row's *subgroup* is the rows sharing its level in every base column and in
``j``; any other row differs from it in some column ``c`` of ``base + [j]`` by at least that
column's gap between its clusters, so its squared distance is at least ``gap_c^2``, and at least
the sum of ``gap_c^2`` over every column where the levels differ.

That gives an exact search without a k-d tree in 20 to 40 dimensions (where, on the full-size
stand-in table, the tree spent 57 of the 74 s of a late L-FOCI step on exactly these rows). For a
row and all of its (candidate) pairs at once:

* the base groups whose level pattern differs from the row's in a set ``D`` of base columns are
  visited in increasing order of ``sum_{c in D} gap_c^2``, a lower bound of the base distance to
  every row of that group (the row's own group first, at 0), each looked up among the groups by a
  binary search;
* every row of a visited group is scored for every candidate still open: its base distance once,
  then the candidate's square (so a row at the candidate's other level counts with its true,
  larger distance);
* a candidate is settled once the next lower bound exceeds its best distance: no row left can
  reach it. A row with company in its subgroup settles after its own group (the smallest gap is
  far above the noise); a row alone there walks on, and shares that walk with its candidates
  (at the last step of L-FOCI Male on the full-size stand-in, 735,000 pairs: 4.3 s against 14.5 s
  for one walk per pair).

Distances are the floats of :func:`unlearnbench.dependence.knn.squared_distances` (base columns
in order, the candidate's square last); a tie, or a search that visits more than
:data:`MAX_PATTERNS` patterns before its bound is cleared, is flagged for the caller's dense repair. A column's two
clusters are split at the middle of its range; the gap is then measured, so any split is exact
and a poor one would only weaken the bounds (:meth:`LevelPatterns.of` declines data whose split
leaves a gap under half the range).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from functools import cached_property

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
# Chunks of rows of the compiled passes that split the columns (each keeps its own extremes).
SPLIT_CHUNKS = 64


def split_levels(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each column's level per row ``(n, k)`` uint8 and its squared gap ``(k,)``, or None.

    A column is split at the middle of its range; its gap is the distance between the largest
    value below and the smallest value above. None when a column's gap is under
    :data:`MIN_GAP_SHARE` of its range (not two clusters far apart). A constant column is one
    level, with an infinite gap (no row differs from another there). Not
    :func:`~unlearnbench.dependence.clusters.column_clusters`, which cuts up to 16 clusters by
    sorting every column: for two levels two passes without a sort give the same split, and it
    runs every step.
    """
    split = _split_in_order(columns, np.arange(columns.shape[0], dtype=np.int64))
    return None if split is None else (split[1].T, split[2])


def _split_in_order(
    columns: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`split_levels` with the rows taken in ``order``: the values and the levels as
    ``(k, n)`` (one column's rows contiguous, in that order) and the squared gaps, or None.

    Two compiled passes over the row-major table (its extremes, then the levels and the gaps),
    each a chunk of rows per thread: for the 38 candidates of the full-size table 0.055 s where
    numpy's masks and the transposed gathers took 0.21 s (one thread, the same arrays; all of
    :meth:`LevelPatterns.of` 0.09-0.11 s against 0.23-0.35 s, with equal fields).
    """
    columns = np.ascontiguousarray(columns, dtype=np.float64)
    n, k = columns.shape
    values_t = np.empty((k, n))
    levels_t = np.empty((k, n), dtype=np.uint8)
    with torch_thread_count():
        low, high = _extremes_kernel(columns)
        middle = low + (high - low) / 2
        below, above = _levels_kernel(columns, order, middle, values_t, levels_t)
    gaps2 = np.full(k, np.inf)
    for col in range(k):
        if high[col] == low[col]:
            continue  # one level: no row differs from another here
        gap = above[col] - below[col]
        if not gap >= MIN_GAP_SHARE * (high[col] - low[col]):
            return None
        gaps2[col] = gap * gap
    return values_t, levels_t, gaps2


@njit(parallel=True, cache=True)
def _extremes_kernel(columns):  # noqa: ANN001, ANN202
    """Each column's smallest and largest value, a chunk of rows per thread."""
    n, k = columns.shape
    lows = np.full((SPLIT_CHUNKS, k), np.inf)
    highs = np.full((SPLIT_CHUNKS, k), -np.inf)
    for chunk in prange(SPLIT_CHUNKS):
        for i in range(chunk * n // SPLIT_CHUNKS, (chunk + 1) * n // SPLIT_CHUNKS):
            for col in range(k):
                value = columns[i, col]
                lows[chunk, col] = min(lows[chunk, col], value)
                highs[chunk, col] = max(highs[chunk, col], value)
    return _chunk_extremes(lows, highs)


@njit(parallel=True, cache=True)
def _levels_kernel(columns, order, middle, values_t, levels_t):  # noqa: ANN001, ANN202
    """The rows in ``order``: their values and levels (above ``middle``) written per column, and
    each column's largest value below and smallest above the middle."""
    n, k = columns.shape
    belows = np.full((SPLIT_CHUNKS, k), -np.inf)
    aboves = np.full((SPLIT_CHUNKS, k), np.inf)
    for chunk in prange(SPLIT_CHUNKS):
        for t in range(chunk * n // SPLIT_CHUNKS, (chunk + 1) * n // SPLIT_CHUNKS):
            i = order[t]
            for col in range(k):
                value = columns[i, col]
                values_t[col, t] = value
                if value > middle[col]:
                    levels_t[col, t] = 1
                    aboves[chunk, col] = min(aboves[chunk, col], value)
                else:
                    levels_t[col, t] = 0
                    belows[chunk, col] = max(belows[chunk, col], value)
    above, below = _chunk_extremes(aboves, belows)
    return below, above


@njit(cache=True)
def _chunk_extremes(smallest, largest):  # noqa: ANN001, ANN202
    """Per column, the least of the chunks' ``smallest`` and the greatest of their ``largest``."""
    k = smallest.shape[1]
    least = np.empty(k)
    greatest = np.empty(k)
    for col in range(k):
        least[col] = smallest[:, col].min()
        greatest[col] = largest[:, col].max()
    return least, greatest


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
        if base_split is None:
            return None
        base_levels, base_gaps2 = base_split
        row_keys = np.zeros(n, dtype=np.int64)
        for col in range(s):
            row_keys |= base_levels[:, col].astype(np.int64) << col
        keys, group = np.unique(row_keys, return_inverse=True)
        group = group.reshape(-1).astype(np.int64)
        members = np.argsort(group, kind="stable").astype(np.int64)
        cand_split = _split_in_order(candidates, members)  # read straight into member order
        if cand_split is None:
            return None
        position = np.empty(n, dtype=np.int64)
        position[members] = np.arange(n)
        starts = np.zeros(keys.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(group, minlength=keys.size), out=starts[1:])
        return cls(
            np.ascontiguousarray(base[members], dtype=np.float64),
            *cand_split[:2],
            base_gaps2,
            cand_split[2],
            keys,
            starts,
            members,
            position,
            group,
        )

    def group_sizes(self) -> np.ndarray:
        """Rows in each row's base group ``(n,)``."""
        return np.diff(self.starts)[self.group]

    # Layouts and bounds the searches of groupscan.py read; computed once per step's patterns.
    @cached_property
    def group_in_order(self) -> np.ndarray:
        """The base group of each place in member order ``(n,)``."""
        return np.repeat(np.arange(self.keys.size, dtype=np.int64), np.diff(self.starts))

    @cached_property
    def base_by_column(self) -> np.ndarray:
        """``base`` as ``(s, n)``: one base column's rows contiguous (block passes)."""
        return np.ascontiguousarray(self.base.T)

    @cached_property
    def candidates_by_row(self) -> tuple[np.ndarray, np.ndarray]:
        """The candidates' values and levels ``(n, c)`` in member order: a row's values for every
        candidate contiguous (scores over a list of rows)."""
        return np.ascontiguousarray(self.candidates.T), np.ascontiguousarray(self.candidate_levels.T)

    @cached_property
    def gap_bounds(self) -> np.ndarray:
        """Per candidate ``(c,)``: a squared distance no row of another base group or subgroup is
        below (the smallest gap of ``base + [j]``, less a margin for rounding)."""
        return np.minimum(self.base_gaps2.min(), self.candidate_gaps2) * (1.0 - MARGIN)

    def pairs_by_row(
        self, cand_idx: np.ndarray, row_idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pairs grouped by row for a kernel that serves a row's pairs together: the order
        that sorts them by row place (then candidate), each row's place once (ascending), and
        where each row's pairs start in that order (plus the end)."""
        by_row = np.lexsort((cand_idx, self.position[row_idx]))
        places = self.position[row_idx[by_row]]
        positions, first = np.unique(places, return_index=True)
        return by_row, positions.astype(np.int64), np.append(first, places.size).astype(np.int64)

    def search(self, cand_idx: np.ndarray, row_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest other row for each (candidate, row) pair: ``(m,)`` rows and ``(m,)`` flags.

        A flagged pair (a tie, a search too long) has no certified answer. The pairs of one row
        share one walk over the base groups (see the module doc).
        """
        order = np.argsort(self.base_gaps2, kind="stable")
        flips = (np.int64(1) << order.astype(np.int64)).astype(np.int64)
        by_row, positions, pair_start = self.pairs_by_row(cand_idx, row_idx)
        found = np.empty(cand_idx.size, dtype=np.int64)
        flagged = np.empty(cand_idx.size, dtype=np.bool_)
        with torch_thread_count():
            _search_kernel(
                self.base,
                self.candidates,
                self.base_gaps2[order],
                flips,
                self.keys,
                self.starts,
                positions,
                self.group_in_order[positions],
                pair_start,
                np.ascontiguousarray(cand_idx[by_row], dtype=np.int64),
                MAX_PATTERNS,
                found,
                flagged,
            )
        out_found = np.empty_like(found)
        out_flagged = np.empty_like(flagged)
        out_found[by_row] = np.where(found >= 0, self.members[np.maximum(found, 0)], -1)
        out_flagged[by_row] = flagged
        return out_found, out_flagged


@njit(parallel=True, cache=True)
def _search_kernel(  # noqa: ANN202, PLR0913
    base,  # noqa: ANN001
    cands,  # noqa: ANN001
    sorted_gaps2,  # noqa: ANN001
    flips,  # noqa: ANN001
    keys,  # noqa: ANN001
    starts,  # noqa: ANN001
    positions,  # noqa: ANN001
    groups,  # noqa: ANN001
    pair_start,  # noqa: ANN001
    pair_cand,  # noqa: ANN001
    max_patterns,  # noqa: ANN001
    found,  # noqa: ANN001
    flagged,  # noqa: ANN001
):
    """For the row at place ``positions[a]`` (base group ``groups[a]``) and its candidates
    ``pair_cand[pair_start[a] : pair_start[a + 1]]``: base groups by increasing lower bound, every
    row of each visited group scored for every candidate still open, until the next bound exceeds
    a candidate's best (that candidate is then settled)."""
    s = base.shape[1]
    for a in prange(positions.size):
        p0, p1 = pair_start[a], pair_start[a + 1]
        if p0 == p1:
            continue
        q, g = positions[a], groups[a]
        m = p1 - p0
        best = np.full(m, math.inf)
        at = np.full(m, -1, dtype=np.int64)
        ties = np.zeros(m, dtype=np.int64)
        settled = np.zeros(m, dtype=np.bool_)
        left = m
        heap = [(0.0, -1, np.int64(0))]
        visited = 0
        too_long = False
        while len(heap) > 0 and left > 0:
            bound, last, key_mask = heapq.heappop(heap)
            worst = 0.0  # the farthest best among the open candidates: rows beyond it matter to none
            for i in range(m):
                if not settled[i]:
                    if not bound * (1.0 - MARGIN) <= best[i]:  # every group left is farther
                        settled[i] = True
                        left -= 1
                    elif best[i] > worst:
                        worst = best[i]
            if left == 0:
                break
            visited += 1
            if visited > max_patterns:
                too_long = True
                break
            nxt = last + 1
            # the next subsets of base columns (weights ascending): add the next column, or move
            # the last one on; a constant column (infinite weight) differs in no row, never visited
            if nxt < s and math.isfinite(sorted_gaps2[nxt]):
                heapq.heappush(heap, (bound + sorted_gaps2[nxt], nxt, key_mask ^ flips[nxt]))
                if last >= 0:
                    heapq.heappush(
                        heap,
                        (
                            bound - sorted_gaps2[last] + sorted_gaps2[nxt],
                            nxt,
                            key_mask ^ flips[last] ^ flips[nxt],
                        ),
                    )
            target = keys[g] ^ key_mask
            other = np.searchsorted(keys, target)
            if other >= keys.size or keys[other] != target:
                continue
            for t in range(starts[other], starts[other + 1]):
                if t == q:
                    continue
                d = (base[q, 0] - base[t, 0]) ** 2
                k = 1
                while k < s and d <= worst:
                    d += (base[q, k] - base[t, k]) ** 2
                    k += 1
                if d > worst:
                    continue
                for i in range(m):
                    if settled[i]:
                        continue
                    j = pair_cand[p0 + i]
                    full = d + (cands[j, q] - cands[j, t]) ** 2
                    if full < best[i]:
                        best[i], at[i], ties[i] = full, t, 1
                    elif full == best[i]:
                        ties[i] += 1
        for i in range(m):
            found[p0 + i] = at[i]
            # open when the search stopped early (too many groups): the bound was never cleared
            flagged[p0 + i] = ties[i] != 1 or (too_long and not settled[i])
