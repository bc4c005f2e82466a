"""Nearest rows within large subgroups of jittered binary data: a grid per subgroup, compiled.

On L-FOCI's jittered attributes (see :mod:`.patterns`) a row's nearest neighbour in the space
``base + [j]`` lies in its subgroup (its base group, its level of ``j``) whenever it is nearer
than the gap between levels. In the first steps (two to five selected columns) the base groups
hold 20,000 to 120,000 rows that differ only by the noise, in three to six dimensions. There a
short list of base neighbours (:mod:`.groupscan`) rarely certifies a candidate, and a k-d tree
per candidate costs a Python call, a build and a query per subgroup, on one thread.

Here one compiled call serves every candidate of the step, the candidates shared among threads.
For a candidate, each subgroup that holds an asked row gets a grid of about :data:`CELL_ROWS`
rows per cell in its ``s + 1`` dimensions. The slabs of a column follow the quantiles of its
values at that level (a table per column and level, from a sample, computed once per step), so
the cells hold about equally many rows even where the noise is dense. A row's search is a
branch and bound over the dimensions, in column order: in each one the slabs are taken outwards
from the row's own, the nearer side first, while the squared gaps summed so far do not exceed
the best distance found; a cell is scanned in full.

Exactness: any monotone slab assignment gives exact answers; the quantile tables only balance
the cells. A slab's bounds are the smallest and largest value of the subgroup's rows in it
(data values, an empty slab takes its neighbour's), and a bound is summed in the order of a
distance (base columns in order, the candidate's square last) from terms no larger than the
distance's own, so by monotone rounding it is never above the distance of a row it prunes. The
pruning is strict (a cell at exactly the best distance is scanned), so an exact tie is seen and
leaves the pair uncertified, as does a row alone in its subgroup or a distance not below the
gaps between levels: those go to :meth:`.patterns.LevelPatterns.search`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from unlearnbench.dependence.grid import torch_thread_count
from unlearnbench.dependence.patterns import LevelPatterns

# Rows per cell of a subgroup's grid. Measured, 1 thread, L-FOCI Male steps of the full-size
# stand-in (grid call alone, seconds for 1, 2, 4, 8, 16, 32): 3 selected 3.7, 2.8, 2.4, 2.3, 2.6,
# 3.1; 5 selected 11.5, 9.0, 7.9, 7.3, 7.9, 10.0; with 2 and 4 selected (timed at 4, 8, 16, 32) 8 was fastest too.
CELL_ROWS = 8.0
# Values per column and level whose quantiles set the slabs (a strided sample).
QUANTILE_SAMPLE = 4096
# Equal-width bins of a column's level range in which the quantile table is looked up.
TABLE_BINS = 4096
# A row's quantile (its "fine" slab) is an integer below this; a grid of g slabs takes fine * g // FINE.
FINE = 1 << 20


def nearest_by_subgroup_grids(patterns: LevelPatterns, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest row of its subgroup for every candidate and each of ``rows`` (row indices).

    Returns ``(c, m)`` int64 answers (row indices, in the order of ``rows``) and ``(c, m)``
    certified flags; an answer is only meaningful where it is certified.
    """
    n, s = patterns.base.shape
    c = patterns.candidates.shape[0]
    slot = np.full(n, -1, dtype=np.int64)
    slot[patterns.position[rows]] = np.arange(rows.size)
    base_levels = (patterns.keys[patterns.group_in_order][:, None] >> np.arange(s)) & 1
    base_fine = np.ascontiguousarray(fine_slabs(patterns.base.T, base_levels.T).T)
    cand_fine = fine_slabs(patterns.candidates, patterns.candidate_levels)
    found = np.full((c, rows.size), -1, dtype=np.int64)
    certified = np.zeros((c, rows.size), dtype=np.bool_)
    with torch_thread_count():
        _grid_kernel(
            patterns.base,
            base_fine,
            patterns.candidates,
            patterns.candidate_levels,
            cand_fine,
            patterns.starts,
            slot,
            patterns.gap_bounds,
            CELL_ROWS,
            found,
            certified,
        )
    return patterns.members[np.maximum(found, 0)], certified


def fine_slabs(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Each value's quantile among its column's values at its level, as an integer below
    :data:`FINE` ``(k, n)`` int64, for ``values``/``levels`` ``(k, n)``: nondecreasing in the value
    within a column and level (approximate: from a sample, looked up in equal-width bins)."""
    k, n = values.shape
    fine = np.zeros((k, n), dtype=np.int64)
    for col in range(k):
        for level in (0, 1):
            at = np.flatnonzero(levels[col] == level)
            if at.size == 0:
                continue
            v = values[col, at]
            low, high = v.min(), v.max()
            if not high > low:
                continue  # one value: every row in the first slab
            sample = np.sort(v[:: max(1, at.size // QUANTILE_SAMPLE)])
            edges = low + (high - low) * np.arange(TABLE_BINS) / TABLE_BINS
            table = np.searchsorted(sample, edges) * FINE // (sample.size + 1)
            bins = np.clip(((v - low) * (TABLE_BINS / (high - low))).astype(np.int64), 0, TABLE_BINS - 1)
            fine[col, at] = table[bins]
    return fine


@njit(parallel=True, cache=True)
def _grid_kernel(
    base, base_fine, cands, levels, cand_fine, starts, slot, outside, cell_rows, found, certified
):  # noqa: ANN001, ANN202, PLR0913
    """For every candidate (one per thread at a time) and every subgroup holding an asked row
    (``slot >= 0``): a grid over the subgroup, then each asked row's search (see the module doc).
    Everything is in member order; ``found``/``certified`` are ``(c, m)`` by slot."""
    n = base.shape[0]
    c = cands.shape[0]
    for j in prange(c):
        members = np.empty(n, dtype=np.int64)
        for g in range(starts.size - 1):
            for level in range(2):
                m = 0
                asked = 0
                for p in range(starts[g], starts[g + 1]):
                    if levels[j, p] == level:
                        members[m] = p
                        m += 1
                        if slot[p] >= 0:
                            asked += 1
                if asked == 0 or m < 2:
                    continue  # a row alone in its subgroup stays uncertified
                _serve_subgroup(
                    base,
                    cands[j],
                    base_fine,
                    cand_fine[j],
                    members[:m],
                    slot,
                    outside[j],
                    cell_rows,
                    found[j],
                    certified[j],
                )


@njit(cache=True)
def _serve_subgroup(base, cand, base_fine, cand_fine, members, slot, outside, cell_rows, found, certified):  # noqa: ANN001, ANN202, PLR0913
    """Build one subgroup's grid and answer its asked rows."""
    s = base.shape[1]
    d = s + 1
    m = members.size
    g = max(1, int((m / cell_rows) ** (1.0 / d) + 0.5))
    cells = g**d
    coords = np.empty((m, d), dtype=np.int64)
    cell_of = np.empty(m, dtype=np.int64)
    counts = np.zeros(cells + 1, dtype=np.int64)
    low = np.full((d, g), np.inf)
    high = np.full((d, g), -np.inf)
    for t in range(m):
        p = members[t]
        cell = 0
        for k in range(d):
            if k < s:
                slab = base_fine[p, k] * g // FINE
                value = base[p, k]
            else:
                slab = cand_fine[p] * g // FINE
                value = cand[p]
            coords[t, k] = slab
            cell = cell * g + slab
            low[k, slab] = min(low[k, slab], value)
            high[k, slab] = max(high[k, slab], value)
        cell_of[t] = cell
        counts[cell + 1] += 1
    for k in range(d):  # an empty slab bounds with its nonempty neighbour beyond it
        for slab in range(g - 2, -1, -1):
            if low[k, slab] == np.inf:
                low[k, slab] = low[k, slab + 1]
        for slab in range(1, g):
            if high[k, slab] == -np.inf:
                high[k, slab] = high[k, slab - 1]
    for cell in range(cells):
        counts[cell + 1] += counts[cell]
    fill = counts[:-1].copy()
    points = np.empty((m, d))
    ids = np.empty(m, dtype=np.int64)
    for t in range(m):
        at = fill[cell_of[t]]
        fill[cell_of[t]] += 1
        p = members[t]
        for k in range(s):
            points[at, k] = base[p, k]
        points[at, s] = cand[p]
        ids[at] = p
    query = np.empty(d)
    up = np.empty(d, dtype=np.int64)
    down = np.empty(d, dtype=np.int64)
    partial = np.zeros(d + 1)
    prefix = np.zeros(d + 1, dtype=np.int64)
    for t in range(m):
        p = members[t]
        if slot[p] < 0:
            continue
        for k in range(s):
            query[k] = base[p, k]
        query[s] = cand[p]
        best = np.inf
        arg = -1
        ties = 0
        level = 0
        up[0], down[0] = coords[t, 0], coords[t, 0] - 1
        while level >= 0:
            if up[level] >= g and down[level] < 0:  # every slab of this dimension taken
                level -= 1
                continue
            x = query[level]
            own = coords[t, level]
            gap_up = np.inf
            gap_down = np.inf
            if up[level] < g:
                gap_up = 0.0 if up[level] == own else (low[level, up[level]] - x) ** 2
            if down[level] >= 0:
                gap_down = (x - high[level, down[level]]) ** 2
            if gap_up <= gap_down:
                slab, gap = up[level], gap_up
            else:
                slab, gap = down[level], gap_down
            bound = partial[level] + gap
            if not bound <= best:  # every slab left on both sides is farther: back up
                level -= 1
                continue
            if slab == up[level]:
                up[level] += 1
            else:
                down[level] -= 1
            if level + 1 < d:
                partial[level + 1] = bound
                prefix[level + 1] = prefix[level] * g + slab
                level += 1
                up[level], down[level] = coords[t, level], coords[t, level] - 1
                continue
            cell = prefix[level] * g + slab
            for at in range(counts[cell], counts[cell + 1]):
                if ids[at] == p:
                    continue
                dist = 0.0
                for k in range(d):
                    dist += (query[k] - points[at, k]) ** 2
                if dist < best:
                    best, arg, ties = dist, ids[at], 1
                elif dist == best:
                    ties += 1
        found[slot[p]] = arg
        certified[slot[p]] = ties == 1 and best < outside
