"""Exact nearest neighbours for all candidates of a FOCI step at once, compiled (numba), on a CPU.

A FOCI step asks, for every candidate column ``j``, for each row's nearest other row in the
space ``[base, j]``, where the base (the columns selected so far) is the same for every
candidate. The R package answers it with a k-d tree per candidate (RANN); a tree per
candidate costs a Python call, a build and a query each time. Here one compiled call answers
every candidate of the step, and the work on the base is shared:

* no base column (the first step): the nearest value is adjacent in sorted order; every
  column is sorted once per FOCI call (:class:`RankedColumns`), so a step is one linear scan
  per candidate (:func:`sorted_neighbours`);
* one base column (:func:`candidate_grid_neighbours`): a grid over the base column and the
  candidate, per candidate (in two dimensions a row's neighbour is in the next cells);
* two to :data:`GRID_MAX_BASE` base columns (:func:`base_grid_neighbours`): the base space is
  cut into a grid of cells of about equal row count (slabs by rank in every base column). For
  each row, the rows of its own cell, then of the shell of cells one step further out, and so
  on, are scored for every candidate still open: the base distance once, then one square per
  candidate. A candidate is done when its best distance is strictly below the squared gap, in
  one base column, between the row and the nearest slab edge beyond the searched box: every
  row outside the box is at least that far in the base alone.

Exactness: the slab edges are data values, so a bound is computed with the same float
operations as a distance term, and a float sum of non-negative squares is never below one of
its terms. Distances are accumulated as in :func:`unlearnbench.dependence.knn.squared_distances`
(base columns in order, the candidate's square last), so they are the same floats as on every
other path. Every row at the best distance lies inside the searched box, so exact ties are
seen and returned as such: the caller resolves them with its tie rule.

Threads: as many as torch's count. Numba's OpenMP pool sets the OpenMP thread count that torch
reads too (the same runtime in one process), which changed how torch's later CPU kernels split
their work, and with it the last digits of results computed after a selection (measured: the
residual gradient norms of the quick profile's ResNet-18 ``lcodec`` run moved by ~1e-6
relative). So every call gives torch its own count back: every number of a run is then
bit-identical. (At one thread a serial build measured the same speed; the parallel one uses
more threads when torch has them.)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numba
import numpy as np
import torch
from numba import njit, prange

# Base columns the grid takes; with more, the 3^s cells of a shell outnumber the rows they hold.
GRID_MAX_BASE = 4
# A step's answers: ``(c, n)`` neighbour rows and ``(c, n)`` tie flags.
Outputs = tuple[np.ndarray, np.ndarray]
# Columns sorted at a time (RankedColumns), a block per thread: 8 columns of 200,000 rows are 13 MB.
SORT_BLOCK = 8
# Rows per chunk of a thread's work (its scratch arrays are allocated once per chunk).
ROWS_PER_CHUNK = 256
# Candidates per pass over the rows: a row's slice of them (512 B) and its neighbours' stay in cache,
# and the farthest open candidate of a block (which sets how far a row's search goes) is nearer.
# Measured idle, 1 thread, 20,000 x 2,000 Gaussian: 16, 32, 64, 128, 256, 512 -> 64 fastest (2x 512).
CANDIDATE_BLOCK = 64
# Rows per grid cell, in units of the neighbour ball's population (see slabs_per_column).
CELL_FACTOR = 2.0
# Up to this many base columns a grid per candidate (candidate_grid_neighbours) beats the shared base
# grid. Measured idle, 1 thread, 20,000 x 100 Gaussian, one call per base size, with a grid per
# candidate in any number of dimensions (an earlier version): with 1 base column 0.27-0.29 s against
# 0.53-0.62 s; with 2 columns 0.72-0.81 s against 0.45-0.55 s; with 3, 1.9-2.4 s against 0.54-0.69 s.
# A kernel written for two dimensions then took 0.22 s (general: 0.32-0.34 s) and 5,000 x 2,000
# 1.03 s (general: 1.56-1.59 s); so only a 2-D grid is kept (as kept, with the bound shared with the
# base grid: 0.213 s, as fast as that first 2-D kernel in the same process, min of 6, load 0.6).
CANDIDATE_GRID_MAX_BASE = 1
# Rows per cell of a candidate's grid (measured the same, within 10%, from 1 to 8).
CANDIDATE_CELL_ROWS = 2.0


def grid_serves(base_columns: int, clustered: bool) -> bool:
    """Whether the grid is the CPU path for a step with this many base columns.

    Up to :data:`CANDIDATE_GRID_MAX_BASE` always (sorted columns, a grid per candidate); the shared
    base grid only on data that are not ``clustered`` (discrete values plus a little noise, as
    L-FOCI makes CelebA's binary attributes): there a candidate's rare level sends the shared search
    far through the base cells, and the pruned path (k-d tree shortlists) wins. Measured idle, 1
    thread, L-FOCI Male on the 202,599-row stand-in table, same answers: with 2 base columns 22.3 s
    (grid) against 14.1 s (pruned), with 3 38.7 s against 9.1 s, with 4 52.7 s against 10.1 s; with 1
    the candidate grid wins (6.0 s against 24.3 s). On a 20,000-row subsample (two runs each) the
    shared grid still wins with 2 columns (0.24 s against 0.53 s), ties with 3 (0.39-0.40 against
    0.40-0.43 s) and loses with 4 (0.80-0.87 s against 0.45-0.48 s): the five steps took 1.67-1.74 s
    with this rule against 1.82-1.83 s with the grid for every step.
    """
    return base_columns <= CANDIDATE_GRID_MAX_BASE or (base_columns <= GRID_MAX_BASE and not clustered)


class RankedColumns:
    """Every column of a table sorted once (order and sorted values), for every FOCI step.

    ``values`` keeps the table row-major, so one row's values for all candidates are contiguous.
    The order among equal values is any (an unstable sort is twice as fast): equal values are a
    tie at distance 0, which every path reports to the caller's tie rule.
    """

    def __init__(self, table: np.ndarray) -> None:
        self.values = np.ascontiguousarray(table, dtype=np.float64)  # (n, p)
        self.n, p = self.values.shape
        self.order = np.empty((p, self.n), dtype=np.int64)
        self.sorted = np.empty((p, self.n))
        # a block of columns at a time, copied so that each column's sort reads contiguous memory
        # (a transposed copy of the whole table would be one more table-sized array to fault in),
        # the blocks shared among torch's threads: numpy's sorts release the GIL
        blocks = [slice(start, start + SORT_BLOCK) for start in range(0, p, SORT_BLOCK)]
        with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
            list(pool.map(self._sort_block, blocks))

    def _sort_block(self, cols: slice) -> None:
        columns = np.ascontiguousarray(self.values[:, cols].T)
        self.order[cols] = np.argsort(columns, axis=1)
        # the values in that order: a gather, a third of a second sort's time (measured: 64
        # columns of 202,599 rows, 0.34 s against 0.79 s)
        self.sorted[cols] = np.take_along_axis(columns, self.order[cols], axis=1)

    def slabs(self, columns: list[int], g: int) -> tuple[np.ndarray, np.ndarray]:
        """Slab (of ``g``) of every row ``(n, len(columns))`` and each slab's smallest value ``(.., g)``."""
        cols = np.asarray(columns, dtype=np.int64)
        slab_of_rank = np.arange(self.n, dtype=np.int64) * g // self.n
        cells = np.empty((self.n, cols.size), dtype=np.int64)
        for k, col in enumerate(cols):
            cells[self.order[col], k] = slab_of_rank
        first_rank = -(-np.arange(g, dtype=np.int64) * self.n // g)  # ceil(c n / g): first rank of slab c
        return cells, np.ascontiguousarray(self.sorted[cols][:, first_rank])


def slabs_per_column(n: int, base_dims: int) -> int:
    """Slabs per base column, for cells of about ``2 n^(1/(s+1)) / 3`` rows.

    In ``s + 1`` dimensions a row's nearest neighbour lies at distance ``~ n^(-1/(s+1))``, and
    a base box of that half-width holds ``~ n^(1/(s+1))`` rows: cells of a few times fewer rows
    let the first shells reach it. Measured on this machine (20,000 Gaussian rows, 1 to 4 base
    columns, 0.6 to 1.6 times these slab counts; under load, so only the ranking counts): no
    other count was more than 1.2x faster than this one, most were slower.
    """
    rows_per_cell = max(1.0, CELL_FACTOR * n ** (1.0 / (base_dims + 1)) / 3.0)
    return max(1, int(round((n / rows_per_cell) ** (1.0 / base_dims))))


@contextmanager
def torch_thread_count() -> Iterator[None]:
    """Numba's threads follow torch's count, as every other path (answers never depend on it), and
    torch gets its count back afterwards, even on an error: see the module doc."""
    threads = torch.get_num_threads()
    numba.set_num_threads(min(numba.config.NUMBA_NUM_THREADS, max(1, threads)))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def grid_neighbours(
    ranked: RankedColumns,
    selected: list[int],
    candidates: list[int],
    out: Outputs | None = None,
    asked: np.ndarray | None = None,
) -> Outputs:
    """The grid path for every candidate, by the number of base columns: ``(c, n)`` rows, ``(c, n)`` ties.

    None: :func:`sorted_neighbours`; up to :data:`CANDIDATE_GRID_MAX_BASE`: a grid per candidate
    (:func:`candidate_grid_neighbours`); more: the shared base grid (:func:`base_grid_neighbours`).
    ``out`` (every function here takes it): arrays of at least ``c`` rows to write into, so that a
    FOCI call reuses one pair for all its steps (see :func:`outputs`). ``asked`` (an ``(n,)``
    mask, default all): rows not asked may be answered with themselves (the candidate grid skips
    their searches; the other paths cost little per row and answer every row).
    """
    if not selected:
        return sorted_neighbours(ranked, candidates, out)
    if len(selected) <= CANDIDATE_GRID_MAX_BASE:
        return candidate_grid_neighbours(ranked, selected, candidates, out, asked)
    return base_grid_neighbours(ranked, selected, candidates, out)


def outputs(c: int, n: int, out: Outputs | None = None) -> Outputs:
    """``(c, n)`` answers and tie flags: the first ``c`` rows of ``out``, else new arrays.

    A step's answers for 2,000 candidates of 20,000 rows take 320 MB, and on this suite's
    machines freshly allocated memory is slow to fault in (a new 320 MB array took 1.14 s to
    fill with ones, against 0.02 s for one whose pages were already mapped), so FOCI passes the
    same pair to every step.
    """
    if out is None:
        return np.empty((c, n), dtype=np.int64), np.empty((c, n), dtype=np.bool_)
    found, tied = out
    if found.shape[0] < c or found.shape[1:] != (n,) or tied.shape[0] < c or tied.shape[1:] != (n,):
        raise ValueError(f"output arrays of shape {found.shape} cannot hold {c} x {n} answers")
    return found[:c], tied[:c]


def sorted_neighbours(ranked: RankedColumns, candidates: list[int], out: Outputs | None = None) -> Outputs:
    """Nearest other row in column ``j`` alone, for every candidate ``j``: ``(c, n)`` rows, ``(c, n)`` ties."""
    cols = np.asarray(candidates, dtype=np.int64)
    out, tied = outputs(cols.size, ranked.n, out)
    with torch_thread_count():
        _sorted_kernel(ranked.order, ranked.sorted, cols, out, tied)
    return out, tied


def base_grid_neighbours(
    ranked: RankedColumns, selected: list[int], candidates: list[int], out: Outputs | None = None
) -> Outputs:
    """Nearest other row in ``[selected, j]`` for every candidate ``j``: ``(c, n)`` rows, ``(c, n)`` ties.

    ``selected`` holds 1 to :data:`GRID_MAX_BASE` columns. The candidates are read from the table
    in place, a block at a time (no copy of the table per step).
    """
    s = len(selected)
    if not 1 <= s <= GRID_MAX_BASE:
        raise ValueError(f"the base grid takes 1 to {GRID_MAX_BASE} base columns, got {s}")
    g = slabs_per_column(ranked.n, s)
    cells, edges = ranked.slabs(selected, g)
    base = np.ascontiguousarray(ranked.values[:, selected])
    cols = np.asarray(candidates, dtype=np.int64)
    out, tied = outputs(cols.size, ranked.n, out)
    with torch_thread_count():
        _base_grid_kernel(base, cells, edges, ranked.values, cols, g, out, tied)
    return out, tied


@njit(parallel=True, cache=True)
def _sorted_kernel(order, values, cols, out, tied):  # noqa: ANN001, ANN202
    n = order.shape[1]
    for a in prange(cols.size):
        j = cols[a]
        v = values[j]
        for t in range(n):
            left = (v[t] - v[t - 1]) ** 2 if t >= 1 else math.inf
            right = (v[t + 1] - v[t]) ** 2 if t + 1 < n else math.inf
            left2 = (v[t] - v[t - 2]) ** 2 if t >= 2 else math.inf
            right2 = (v[t + 2] - v[t]) ** 2 if t + 2 < n else math.inf
            best = min(left, right)
            # squared gaps grow (weakly) away from a value in sorted order: a tie shows next door
            tie = left == right or (left == best and left2 == best) or (right == best and right2 == best)
            row = order[j, t]
            out[a, row] = order[j, t - 1] if left < right else order[j, t + 1]
            tied[a, row] = tie


@njit(parallel=True, cache=True)
def _base_grid_kernel(base, cells, edges, values, cols, g, out, tied):  # noqa: ANN001, ANN202
    n, s = base.shape
    c = cols.size
    # counting sort of the rows by cell: each cell's rows contiguous, in increasing row order
    code = np.zeros(n, dtype=np.int64)
    stride = 1
    for k in range(s):
        for i in range(n):
            code[i] += cells[i, k] * stride
        stride *= g
    start = np.zeros(stride + 1, dtype=np.int64)
    for i in range(n):
        start[code[i] + 1] += 1
    for x in range(stride):
        start[x + 1] += start[x]
    fill = start[:-1].copy()
    members = np.empty(n, dtype=np.int64)
    for i in range(n):
        members[fill[code[i]]] = i
        fill[code[i]] += 1
    # rows are searched, and stored, in cell order: a cell's rows are contiguous in memory, and
    # consecutive queries (neighbours in the grid) scan the same cells while they are in cache
    cell_base = np.empty((n, s))
    cell_of = np.empty((n, s), dtype=np.int64)
    for m in range(n):
        cell_base[m] = base[members[m]]
        cell_of[m] = cells[members[m]]
    n_chunks = (n + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK
    for first in range(0, c, CANDIDATE_BLOCK):  # a block's slice of a row stays in cache
        width = min(c, first + CANDIDATE_BLOCK) - first
        # the block's values in cell order (rows of ``width`` values): unit-stride loops vectorise
        block = np.empty((n, width))
        for m in range(n):
            for j in range(width):
                block[m, j] = values[members[m], cols[first + j]]
        for chunk in prange(n_chunks):
            best = np.empty(width)
            best_row = np.empty(width, dtype=np.int64)
            ties = np.empty(width, dtype=np.int64)
            open_ = np.empty(width, dtype=np.int64)
            low = np.empty(s, dtype=np.int64)
            high = np.empty(s, dtype=np.int64)
            at = np.empty(s, dtype=np.int64)
            for i in range(chunk * ROWS_PER_CHUNK, min(n, (chunk + 1) * ROWS_PER_CHUNK)):  # cell order
                best[:] = math.inf
                best_row[:] = -1
                ties[:] = 0
                for j in range(width):
                    open_[j] = j
                n_open = width
                mine = block[i]
                worst = math.inf  # the largest best distance among open candidates, at the shell's start
                r = 0
                while True:
                    for k in range(s):
                        low[k] = max(cell_of[i, k] - r, 0)
                        high[k] = min(cell_of[i, k] + r, g - 1)
                        at[k] = low[k]
                    while True:  # every cell of the box [low, high]; only those on the shell of radius r
                        on_shell = r == 0
                        for k in range(s):
                            if abs(at[k] - cell_of[i, k]) == r:
                                on_shell = True
                        if on_shell:
                            x = 0
                            step = 1
                            for k in range(s):
                                x += at[k] * step
                                step *= g
                            for m in range(start[x], start[x + 1]):
                                if m == i:
                                    continue
                                bd = (cell_base[i, 0] - cell_base[m, 0]) ** 2
                                for k in range(1, s):
                                    bd += (cell_base[i, k] - cell_base[m, k]) ** 2
                                if bd > worst:
                                    continue  # no open candidate can get nearer (or tie) through this row
                                theirs = block[m]
                                if n_open * 2 > width:  # most open: all of them, branch-free (vectorised)
                                    for j in range(width):
                                        dist = (mine[j] - theirs[j]) ** 2 + bd
                                        nearer = dist < best[j]
                                        ties[j] = (
                                            1 if nearer else (ties[j] + 1 if dist == best[j] else ties[j])
                                        )
                                        best_row[j] = m if nearer else best_row[j]
                                        best[j] = dist if nearer else best[j]
                                else:  # the few still open (a finished candidate cannot change)
                                    for a in range(n_open):
                                        j = open_[a]
                                        dist = (mine[j] - theirs[j]) ** 2 + bd
                                        if dist < best[j]:
                                            best[j] = dist
                                            best_row[j] = m
                                            ties[j] = 1
                                        elif dist == best[j]:
                                            ties[j] += 1
                        if not _next_cell(at, low, high):
                            break
                    bound = _box_bound(cell_base[i], cell_of[i], edges, r, g)
                    # a candidate is done when its best is below the bound: rows further out cannot reach it
                    kept = 0
                    worst = 0.0
                    for a in range(n_open):
                        j = open_[a]
                        if best[j] >= bound:
                            open_[kept] = j
                            kept += 1
                            worst = max(worst, best[j])
                    n_open = kept
                    if n_open == 0 or bound == math.inf:  # all done, or the box is the whole grid
                        break
                    r += 1
                for j in range(width):  # in cell order: neighbouring writes, rows restored below
                    out[first + j, i] = best_row[j]
                    tied[first + j, i] = ties[j] > 1
    for j in prange(c):  # back to row order, one candidate's row (in cache) at a time
        found = out[j].copy()
        flags = tied[j].copy()
        for m in range(n):
            out[j, members[m]] = members[found[m]] if found[m] >= 0 else -1
            tied[j, members[m]] = flags[m]


def candidate_grid_neighbours(
    ranked: RankedColumns,
    selected: list[int],
    candidates: list[int],
    out: Outputs | None = None,
    asked: np.ndarray | None = None,
) -> Outputs:
    """Nearest other row in ``[selected, j]`` for every candidate ``j``, one selected column:
    ``(c, n)`` rows, ``(c, n)`` ties.

    One grid per candidate over the two columns (rank slabs in each), searched shell by shell
    like :func:`base_grid_neighbours`'s. Nothing is shared between candidates but the base
    slabs, yet in two dimensions a row's nearest neighbour lies in its own cell or the next ones
    (about 18 rows scanned per row on Gaussian data), where the shared base grid scans every row
    of a base slab around it (~ ``sqrt(n)``). In three and more dimensions the first shell
    already holds 26 and 80 cells, and the shared grid wins (see :data:`CANDIDATE_GRID_MAX_BASE`).
    Rows not ``asked`` (a mask, default all) are answered with themselves, unsearched.
    """
    if len(selected) != 1:
        raise ValueError(f"the candidate grid takes 1 base column, got {len(selected)}")
    g = max(1, int(round((ranked.n / CANDIDATE_CELL_ROWS) ** 0.5)))
    cells, edges = ranked.slabs(selected, g)
    cols = np.asarray(candidates, dtype=np.int64)
    out, tied = outputs(cols.size, ranked.n, out)
    with torch_thread_count():
        _candidate_grid_kernel(
            np.ascontiguousarray(ranked.values[:, selected[0]]),
            ranked.order,
            ranked.sorted,
            cells[:, 0].copy(),
            edges[0],
            cols,
            g,
            np.ones(ranked.n, dtype=np.bool_) if asked is None else asked,
            out,
            tied,
        )
    return out, tied


@njit(parallel=True, cache=True)
def _candidate_grid_kernel(base_values, order, sorted_, base_cell, base_edges, cols, g, asked, out, tied):  # noqa: ANN001, ANN202, PLR0913
    n = base_values.shape[0]
    for a in prange(cols.size):
        j = cols[a]
        # this candidate's slabs, every row's cell (x: the base column's slab, y: the candidate's),
        # and the rows with their two values in cell order (x fastest)
        cell = np.empty((n, 2), dtype=np.int64)
        column = np.empty(n)  # the candidate's values from its sorted copy: the table's column is strided
        edges = np.empty((2, g))
        edges[0] = base_edges
        for t in range(n):
            cell[order[j, t], 1] = t * g // n
            column[order[j, t]] = sorted_[j, t]
        for c in range(g):
            edges[1, c] = sorted_[j, -((-c * n) // g)]
        start = np.zeros(g * g + 1, dtype=np.int64)
        for i in range(n):
            cell[i, 0] = base_cell[i]
            start[cell[i, 0] + g * cell[i, 1] + 1] += 1
        for x in range(g * g):
            start[x + 1] += start[x]
        fill = start[:-1].copy()
        members = np.empty(n, dtype=np.int64)
        points = np.empty((n, 2))
        for i in range(n):
            m = fill[cell[i, 0] + g * cell[i, 1]]
            fill[cell[i, 0] + g * cell[i, 1]] += 1
            members[m] = i
            points[m, 0] = base_values[i]
            points[m, 1] = column[i]
        for q in range(n):  # rows in cell order: consecutive queries search the same cells
            i = members[q]
            if not asked[i]:
                out[a, i] = i
                tied[a, i] = False
                continue
            x0, y0 = points[q, 0], points[q, 1]
            cx, cy = cell[i, 0], cell[i, 1]
            best = math.inf
            best_row = -1
            ties = 0
            r = 0
            while True:
                low, high = max(cx - r, 0), min(cx + r, g - 1)
                for y in range(max(cy - r, 0), min(cy + r, g - 1) + 1):
                    # a line of the box is consecutive cells, so its rows are one run of ``members``;
                    # a line inside the shell adds only its two end cells
                    for piece in range(2):
                        if r == 0 or y == cy - r or y == cy + r:
                            if piece == 1:
                                break
                            first, last = low, high
                        elif piece == 0:
                            if low != cx - r:
                                continue
                            first, last = low, low
                        else:
                            if high != cx + r:
                                continue
                            first, last = high, high
                        for m in range(start[y * g + first], start[y * g + last + 1]):
                            if members[m] == i:
                                continue
                            dist = (x0 - points[m, 0]) ** 2
                            dist += (y0 - points[m, 1]) ** 2  # the base column's square, then the candidate's
                            if dist < best:
                                best = dist
                                best_row = members[m]
                                ties = 1
                            elif dist == best:
                                ties += 1
                bound = _box_bound(points[q], cell[i], edges, r, g)
                if best < bound or bound == math.inf:
                    break
                r += 1
            out[a, i] = best_row
            tied[a, i] = ties > 1


@njit(cache=True, inline="always")
def _next_cell(at, low, high):  # noqa: ANN001, ANN202
    """Advance ``at`` to the next cell of the box ``[low, high]`` (an odometer); False when it is done."""
    k = 0
    while k < at.size:
        at[k] += 1
        if at[k] <= high[k]:
            return True
        at[k] = low[k]
        k += 1
    return False


@njit(cache=True, inline="always")
def _box_bound(point, cell, edges, r, g):  # noqa: ANN001, ANN202
    """How far every row outside the box of radius ``r`` around ``cell`` is at least, squared.

    A row outside the box lies beyond a slab edge in some column, and the edges are data values:
    the bound is one squared difference of the same floats a distance sums, never above the
    distance (the exactness argument of the module doc). ``inf`` when the box is the whole grid.
    """
    bound = math.inf
    for k in range(point.size):
        if cell[k] - r - 1 >= 0:
            bound = min(bound, (point[k] - edges[k, cell[k] - r]) ** 2)
        if cell[k] + r + 1 <= g - 1:
            bound = min(bound, (edges[k, cell[k] + r + 1] - point[k]) ** 2)
    return bound
