"""Nearest rows within large base groups of jittered binary data: one pass serves every candidate.

On L-FOCI's jittered attributes (see :mod:`.patterns`) a row's nearest neighbour in the space
``base + [j]`` lies in its subgroup (its base group, its level of ``j``) whenever it is nearer
than the gap between levels. Once several columns are selected, a base group holds thousands
of rows that differ only by the noise, in 8 to 20 dimensions, where a k-d tree visits most of
its leaves: on the full-size stand-in table its queries cost 70 to 130 microseconds a row.

Every candidate of a step shares the base columns, so this module computes base distances once
per row and candidate-specific work only on a short list:

1. for each asked row, its :data:`SHORTLIST` nearest rows of its base group in the base space,
   by a pass over the group's rows in contiguous blocks (vectorised across rows, column by
   column: the floats of :func:`unlearnbench.dependence.knn.squared_distances`);
2. for each candidate, the nearest row of the row's subgroup among that list; it is certified
   when it is unique and nearer than the next base distance of the group (no row off the list
   is nearer even in the base space) and nearer than the gaps between levels (no row of another
   group or subgroup is);
3. the pairs not certified (a rare level, whose subgroup the list barely samples) are answered
   by one more pass over the group, its base distances shared by every such candidate of the row.

Pairs still open (a row alone in its subgroup, a tie, a distance not below the gaps) go to
:meth:`.patterns.LevelPatterns.search` and from there, if need be, to the dense repair.

A target with two values (every Fig. 3 target is binary) needs less: FOCI adds
``min(R_i, R_M(i))``, and with two ranks only the class of the neighbour ``M(i)`` matters.
:func:`neighbour_classes` settles a row without finding its neighbour: it scans the class that is
rarer in the row's base group in full (the nearest row of each subgroup in that class), then the
other class until, per candidate, a row nearer than that turns up (the neighbour is of the other
class) or the class runs out (the neighbour is the rarer class's nearest). When one class is rare
in a large group (No_Beard: a group of 79,101 rows with 667 of the rarer class, 8 base columns),
that costs about the rarer class, not the group.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from unlearnbench.dependence.grid import torch_thread_count
from unlearnbench.dependence.patterns import LevelPatterns

# Base neighbours listed per row. Not tuned (no other length was tried): on the full-size stand-in
# (L-FOCI Male) it left 3.0%, 1.6% and 0.9% of the pairs to the second pass with 8, 12 and 16
# selected columns.
SHORTLIST = 32
# Rows per block of a pass: base distances to this many rows are computed column by column, so
# that the inner loop runs over contiguous memory and vectorises.
BLOCK = 256


def nearest_in_groups(
    patterns: LevelPatterns, rows: np.ndarray, k: int = SHORTLIST
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest row in its subgroup for every candidate and each of ``rows`` (increasing indices).

    Returns ``(c, m)`` int64 answers (row indices) and ``(c, m)`` certified flags; an answer is
    only meaningful where it is certified. ``rows`` should lie in base groups of at least
    ``k + 2`` rows (in smaller ones the list holds the whole group, which is still exact).
    """
    c = patterns.candidates.shape[0]
    positions = np.ascontiguousarray(np.sort(patterns.position[rows]), dtype=np.int64)
    m = positions.size
    near_d = np.empty((m, k + 1))
    near_i = np.empty((m, k + 1), dtype=np.int64)
    found = np.empty((c, m), dtype=np.int64)
    certified = np.empty((c, m), dtype=np.bool_)
    with torch_thread_count():
        _shortlist_kernel(
            patterns.base_by_column,
            patterns.starts,
            patterns.group_in_order,
            positions,
            near_d,
            near_i,
        )
        _certify_kernel(
            *patterns.candidates_by_row,
            positions,
            near_d[:, :k],
            near_i[:, :k],
            near_d[:, k],
            patterns.gap_bounds,
            found,
            certified,
        )
    found = patterns.members[np.maximum(found, 0)]  # member order -> row index
    in_order = patterns.members[positions]  # the rows, in the order of the columns above
    open_cand, open_at = np.nonzero(~certified)
    found[open_cand, open_at], certified[open_cand, open_at] = scan_pairs(
        patterns, open_cand, in_order[open_at]
    )
    order = np.argsort(in_order, kind="stable")  # back to the order of ``rows``
    return found[:, order], certified[:, order]


def scan_pairs(
    patterns: LevelPatterns, cand_idx: np.ndarray, row_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Step 3 for any (candidate, row) pairs: the nearest row of each pair's subgroup over the
    row's whole base group, one pass per row for all its pairs. Returns ``(m,)`` answers (row
    indices) and ``(m,)`` certified flags (unique, and below the gaps between levels)."""
    by_row, positions, pair_start = patterns.pairs_by_row(cand_idx, row_idx)
    found = np.empty(cand_idx.size, dtype=np.int64)
    certified = np.empty(cand_idx.size, dtype=np.bool_)
    with torch_thread_count():
        _scan_kernel(
            patterns.base_by_column,
            patterns.candidates,
            patterns.candidate_levels,
            patterns.starts,
            patterns.group_in_order,
            positions,
            pair_start,
            np.ascontiguousarray(cand_idx[by_row], dtype=np.int64),
            patterns.gap_bounds,
            found,
            certified,
        )
    out_found = np.empty_like(found)
    out_certified = np.empty_like(certified)
    out_found[by_row] = patterns.members[np.maximum(found, 0)]
    out_certified[by_row] = certified
    return out_found, out_certified


def certify_lists(
    patterns: LevelPatterns,
    rows: np.ndarray,
    near_d: np.ndarray,
    near_i: np.ndarray,
    threshold: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Step 2 alone, for base lists found elsewhere (a k-d tree): ``(c, m)`` answers and flags.

    ``near_d``/``near_i`` ``(m, k)``: each row's listed base distances (this module's floats) and
    row indices; ``threshold`` ``(m,)``: a base distance no unlisted row is nearer than.
    """
    c = patterns.candidates.shape[0]
    m = rows.size
    found = np.empty((c, m), dtype=np.int64)
    certified = np.empty((c, m), dtype=np.bool_)
    with torch_thread_count():
        _certify_kernel(
            *patterns.candidates_by_row,
            np.ascontiguousarray(patterns.position[rows], dtype=np.int64),
            np.ascontiguousarray(near_d),
            np.ascontiguousarray(patterns.position[near_i]),
            np.ascontiguousarray(threshold, dtype=np.float64),
            patterns.gap_bounds,
            found,
            certified,
        )
    return patterns.members[np.maximum(found, 0)], certified


@njit(inline="always")
def _block_distances(base_t, q, first, width, out):  # noqa: ANN001, ANN202
    """Base distances of the row at ``q`` to the rows ``first : first + width``, column by column."""
    s = base_t.shape[0]
    value = base_t[0, q]
    column = base_t[0, first : first + width]
    for t in range(width):
        out[t] = (value - column[t]) ** 2
    for col in range(1, s):
        value = base_t[col, q]
        column = base_t[col, first : first + width]
        for t in range(width):
            out[t] += (value - column[t]) ** 2


@njit(parallel=True, cache=True)
def _shortlist_kernel(base_t, starts, group_of, positions, near_d, near_i):  # noqa: ANN001, ANN202
    """The ``k + 1`` nearest rows of each row's base group (itself excluded), ascending, by place.

    A row enters the list only when strictly nearer than its current last entry, so every row
    left out is at least as far as the final ``(k+1)``-th: the certificate of the first ``k``.
    """
    k = near_d.shape[1] - 1
    for a in prange(positions.size):
        q = positions[a]
        first, stop = starts[group_of[q]], starts[group_of[q] + 1]
        dist, rows = near_d[a], near_i[a]
        dist[:] = math.inf
        rows[:] = -1
        block = np.empty(BLOCK)
        for start in range(first, stop, BLOCK):
            width = min(stop, start + BLOCK) - start
            _block_distances(base_t, q, start, width, block)
            for t in range(width):
                d = block[t]
                if d < dist[k] and start + t != q:
                    at = k
                    while at > 0 and dist[at - 1] > d:
                        dist[at] = dist[at - 1]
                        rows[at] = rows[at - 1]
                        at -= 1
                    dist[at] = d
                    rows[at] = start + t


@njit(parallel=True, cache=True)
def _certify_kernel(cands, levels, positions, near_d, near_i, threshold, outside, found, certified):  # noqa: ANN001, ANN202, PLR0913
    """Per candidate, the nearest listed row of the row's subgroup; certified when unique and below
    both ``threshold`` (no unlisted row is nearer in the base space) and the candidate's gap bound
    ``outside``. ``cands``/``levels`` are ``(n, c)`` (``LevelPatterns.candidates_by_row``); a list ends at
    its first place -1."""
    c = cands.shape[1]
    k = near_d.shape[1]
    for a in prange(positions.size):
        q = positions[a]
        best = np.full(c, math.inf)
        at = np.full(c, -1, dtype=np.int64)
        ties = np.zeros(c, dtype=np.int64)
        for e in range(k):
            t = near_i[a, e]
            if t < 0:
                break
            for j in range(c):
                if levels[t, j] != levels[q, j]:
                    continue
                d = near_d[a, e] + (cands[q, j] - cands[t, j]) ** 2
                if d < best[j]:
                    best[j], at[j], ties[j] = d, t, 1
                elif d == best[j]:
                    ties[j] += 1
        bound = threshold[a]
        for j in range(c):
            found[j, a] = at[j]
            certified[j, a] = ties[j] == 1 and best[j] < bound and best[j] < outside[j]


@njit(parallel=True, cache=True)
def _scan_kernel(  # noqa: ANN202, PLR0913
    base_t,  # noqa: ANN001
    cands,  # noqa: ANN001
    levels,  # noqa: ANN001
    starts,  # noqa: ANN001
    group_of,  # noqa: ANN001
    positions,  # noqa: ANN001
    pair_start,  # noqa: ANN001
    pair_cand,  # noqa: ANN001
    outside,  # noqa: ANN001
    found,  # noqa: ANN001
    certified,  # noqa: ANN001
):
    """For row ``a`` and its open candidates ``pair_cand[pair_start[a] : pair_start[a + 1]]``: the
    nearest row of each subgroup over the whole base group, the base distances computed once per
    block for all of them. ``cands``/``levels`` are ``(c, n)``."""
    for a in prange(positions.size):
        p0, p1 = pair_start[a], pair_start[a + 1]
        if p0 == p1:
            continue
        q = positions[a]
        first, stop = starts[group_of[q]], starts[group_of[q] + 1]
        block = np.empty(BLOCK)
        full = np.empty(BLOCK)
        best = np.full(p1 - p0, math.inf)
        at = np.full(p1 - p0, -1, dtype=np.int64)
        ties = np.zeros(p1 - p0, dtype=np.int64)
        for start in range(first, stop, BLOCK):
            width = min(stop, start + BLOCK) - start
            _block_distances(base_t, q, start, width, block)
            if start <= q < start + width:
                block[q - start] = math.inf  # the row itself
            for p in range(p0, p1):
                j = pair_cand[p]
                value, level = cands[j, q], levels[j, q]
                column, column_levels = cands[j, start : start + width], levels[j, start : start + width]
                for t in range(width):
                    full[t] = block[t] + (value - column[t]) ** 2 if column_levels[t] == level else math.inf
                i = p - p0
                for t in range(width):
                    if full[t] <= best[i]:
                        if full[t] < best[i]:
                            best[i], at[i], ties[i] = full[t], start + t, 1
                        else:
                            ties[i] += 1
        for p in range(p0, p1):
            i = p - p0
            found[p] = at[i]
            certified[p] = ties[i] == 1 and best[i] < outside[pair_cand[p]]


def neighbour_classes(
    patterns: LevelPatterns, rows: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For a target with two values: a row of the same class as each pair's nearest neighbour.

    ``upper`` ``(n,)`` marks one class. For every candidate and each of ``rows`` returns ``(c, m)``
    answers and ``(c, m)`` decided flags; a decided answer is a row whose class is that of the
    pair's nearest neighbour (the neighbour itself when it is in the class that is rarer in the
    row's base group). See the module doc.
    """
    c, n = patterns.candidates.shape
    group_of = patterns.group_in_order
    in_order = np.asarray(upper, dtype=bool)[patterns.members]
    # places sorted by group, then class (lower first): each group's two classes are contiguous
    by_class = np.lexsort((np.arange(n), in_order, group_of)).astype(np.int64)
    where = np.empty(n, dtype=np.int64)
    where[by_class] = np.arange(n)
    counts = np.bincount(2 * group_of + in_order, minlength=2 * patterns.keys.size)
    class_starts = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=class_starts[1:])
    found = np.empty((c, rows.size), dtype=np.int64)
    decided = np.empty((c, rows.size), dtype=np.bool_)
    with torch_thread_count():
        _class_kernel(
            np.ascontiguousarray(patterns.base[by_class].T),
            np.ascontiguousarray(patterns.candidates[:, by_class].T),
            np.ascontiguousarray(patterns.candidate_levels[:, by_class].T),
            class_starts,
            group_of[by_class],
            where[patterns.position[rows]],
            patterns.gap_bounds,
            found,
            decided,
        )
    return patterns.members[by_class[np.maximum(found, 0)]], decided


def minority_sizes(patterns: LevelPatterns, rows: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Rows of the rarer class in each row's base group ``(m,)``: what :func:`neighbour_classes`
    scans in full for that row."""
    ones = np.bincount(patterns.group, weights=np.asarray(upper, dtype=float), minlength=patterns.keys.size)
    sizes = np.diff(patterns.starts)
    rare = np.minimum(ones, sizes - ones).astype(np.int64)
    return rare[patterns.group[rows]]


@njit(parallel=True, cache=True)
def _class_kernel(base_t, cands, levels, class_starts, group_of, positions, outside, found, decided):  # noqa: ANN001, ANN202, PLR0913
    """Per row: the rarer class of its base group scanned in full (the nearest row of each subgroup
    in that class, per candidate), then the other class until, for every candidate, a row nearer
    than that is found (the neighbour is in the other class) or the class runs out (it is the
    rarer class's nearest). Decided only below the candidate's gap bound ``outside``; a tie
    between classes, or a row alone in its subgroup, stays undecided.

    Everything is in class order (each group's lower class, then its upper class, contiguous):
    ``base_t`` ``(s, n)`` for block distances, ``cands``/``levels`` ``(n, c)`` so that a scanned
    row's values for every candidate are contiguous.
    """
    c = cands.shape[1]
    for a in prange(positions.size):
        q = positions[a]
        g = group_of[q]
        lower = class_starts[2 * g + 1] - class_starts[2 * g]
        rare = 0 if lower <= class_starts[2 * g + 2] - class_starts[2 * g + 1] else 1
        best = np.full(c, math.inf)
        at = np.full(c, -1, dtype=np.int64)
        ties = np.zeros(c, dtype=np.int64)
        block = np.empty(BLOCK)
        first, stop = class_starts[2 * g + rare], class_starts[2 * g + rare + 1]
        for start in range(first, stop, BLOCK):
            width = min(stop, start + BLOCK) - start
            _block_distances(base_t, q, start, width, block)
            for t in range(width):
                row = start + t
                if row == q:
                    continue
                for j in range(c):
                    if levels[row, j] != levels[q, j]:
                        continue
                    d = block[t] + (cands[q, j] - cands[row, j]) ** 2
                    if d < best[j]:
                        best[j], at[j], ties[j] = d, row, 1
                    elif d == best[j]:
                        ties[j] += 1
        # the other class: a row below min(best, outside) settles its candidate for that class;
        # the open candidates are kept first in ``pending`` (the scan's cost follows how many)
        limit = np.minimum(best, outside)
        tied = np.zeros(c, dtype=np.bool_)
        open_ = np.ones(c, dtype=np.bool_)
        pending = np.arange(c)
        left = c
        worst = limit.max()
        first, stop = class_starts[2 * g + 1 - rare], class_starts[2 * g + 2 - rare]
        for start in range(first, stop, BLOCK):
            if left == 0:
                break
            width = min(stop, start + BLOCK) - start
            _block_distances(base_t, q, start, width, block)
            for t in range(width):
                row = start + t
                if block[t] > worst or row == q:
                    continue
                i = 0
                closed = False
                while i < left:
                    j = pending[i]
                    if levels[row, j] == levels[q, j]:
                        d = block[t] + (cands[q, j] - cands[row, j]) ** 2
                        if d < limit[j]:
                            found[j, a] = row
                            decided[j, a] = True
                            open_[j] = False
                            left -= 1
                            pending[i], pending[left] = pending[left], pending[i]
                            closed = True
                            continue  # the candidate moved here is examined next
                        if d == best[j]:
                            tied[j] = True  # a row of each class at the rarer class's nearest distance
                    i += 1
                if closed:
                    worst = 0.0
                    for i in range(left):
                        worst = max(worst, limit[pending[i]])
                    if left == 0:
                        break
        for j in range(c):
            if open_[j]:  # no nearer row of the other class: the rarer class's nearest
                found[j, a] = at[j]
                decided[j, a] = not tied[j] and ties[j] == 1 and best[j] < outside[j]
