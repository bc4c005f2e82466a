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
from scipy.spatial import cKDTree

from unlearnbench.dependence.kdtree import query_workers

# Above this many possible patterns per candidate (base patterns x values of the candidate) the
# grouping stops paying: the data are not discrete enough, another path is used.
MAX_PATTERNS = 1 << 16
# Rows sampled to guess cheaply whether a column is discrete (a continuous column has no repeats).
SAMPLE_ROWS = 256
# Nearest patterns shortlisted by a k-d tree for a row without duplicates.
SHORTLIST = 32


class BaseGroups:
    """The base columns' row patterns: ``codes`` ``(n,)`` int64 into ``patterns`` ``(count, s)``.

    ``columns`` are the base columns' :func:`column_codes` when the caller has them already
    (FOCI codes every column once per call, not once per step).
    """

    def __init__(self, base: np.ndarray, columns: list[tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        n, s = base.shape
        if columns is None:
            columns = [column_codes(base[:, k]) for k in range(s)]
        codes = np.zeros(n, dtype=np.int64)
        radix = 1
        ok = True
        for values, column in columns:
            ok = ok and separated(values)
            if radix * values.size >= 1 << 40:  # re-number before the mixed-radix code overflows
                codes, radix = _compact(codes, radix)
            codes = codes * values.size + column
            radix *= values.size
        self.codes, self.count = _compact(codes, radix)
        # rows by (pattern, index): each pattern's rows form one segment, in increasing index order
        self.order = np.argsort(self.codes, kind="stable")
        self.sizes = np.bincount(self.codes, minlength=self.count)
        self.starts = np.cumsum(self.sizes) - self.sizes
        self.patterns = base[self.order[self.starts]]  # one row per pattern: the same floats as its rows
        self.separated = ok

    def fits(self, values: np.ndarray) -> bool:
        """Whether a candidate with these distinct ``values`` is worth grouping with this base."""
        n = self.codes.shape[0]
        return self.separated and self.count * values.size <= min(MAX_PATTERNS, n // 2) and separated(values)


class CodedTable:
    """Every column of a discrete table coded once (:func:`column_codes`), for the greedy steps of FOCI.

    :meth:`of` returns None unless every column looks discrete and has separated values: the
    grouped path then serves every step without re-reading the floats.
    """

    def __init__(self, table: np.ndarray, columns: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.table = table
        self.columns = columns

    @classmethod
    def of(cls, table: np.ndarray) -> CodedTable | None:
        p = table.shape[1]
        if not all(looks_discrete(table[:, k]) for k in range(p)):
            return None
        columns = []
        for k in range(p):
            values, codes = column_codes(table[:, k])
            if values.size > MAX_PATTERNS or not separated(values):
                return None
            columns.append((values, codes.astype(np.uint8 if values.size <= 256 else np.int64)))
        return cls(table, columns)

    def groups(self, selected: list[int]) -> BaseGroups:
        return BaseGroups(self.table[:, selected], [self.columns[k] for k in selected])


def _compact(codes: np.ndarray, radix: int) -> tuple[np.ndarray, int]:
    """Renumber pattern codes to ``0 .. count - 1``."""
    if radix <= 1 << 22:
        present = np.bincount(codes, minlength=radix) > 0
        remap = np.cumsum(present) - 1
        return remap[codes], int(present.sum())
    unique, inverse = np.unique(codes, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), int(unique.size)


def looks_discrete(column: np.ndarray) -> bool:
    """A cheap guess: repeated values among the first rows (never true for continuous data)."""
    head = column[:SAMPLE_ROWS]
    return np.unique(head).size < head.size


def column_codes(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each row's index into them (binary columns without a sort)."""
    low, high = column.min(), column.max()
    upper = column == high
    if low == high or bool((upper | (column == low)).all()):
        values = np.array([low] if low == high else [low, high], dtype=column.dtype)
        return values, upper.astype(np.int64) if low != high else np.zeros(column.size, dtype=np.int64)
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
    """Neighbours in ``[base, column]``, ties resolved by the rule of :mod:`.knn`; and rows to repair.

    ``values``/``codes`` describe the candidate column (:func:`column_codes`), ``u`` the
    tie-breaking uniforms. A row with duplicates takes one of them; a row without (a pattern
    seen once) is compared with the other patterns, not rows: its squared distance to every
    pattern is computed in the column order of :func:`.knn.squared_distances` (the same floats
    as row by row), and its tie set is every row of the nearest patterns. Returns ``(n,)``
    int64 neighbours and an ``(n,)`` bool mask of rows still to repair (none, as written; kept
    for the common path interface).
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
    if bool(alone.any()):
        _singletons(groups, values, key.astype(np.int64), counts, order, start, u, np.flatnonzero(alone), out)
    return out.astype(np.int64), np.zeros(n, dtype=bool)


def _singletons(
    groups: BaseGroups,
    values: np.ndarray,
    key: np.ndarray,
    counts: np.ndarray,
    order: np.ndarray,
    start: np.ndarray,
    u: np.ndarray,
    rows: np.ndarray,
    out: np.ndarray,
) -> None:
    """Rows whose pattern occurs once: nearest patterns by exact squared distance, then the tie rule."""
    width = values.shape[0]
    occupied = np.flatnonzero(counts)
    base_of, value_of = occupied // width, occupied % width
    points = np.empty((occupied.size, groups.patterns.shape[1] + 1))
    points[:, :-1] = groups.patterns[base_of]
    points[:, -1] = values[value_of]
    slot = np.empty(counts.size, dtype=np.int64)
    slot[occupied] = np.arange(occupied.size)
    own = slot[key[rows]]
    # the tree only shortlists the nearest patterns; distances are recomputed exactly below
    k = min(occupied.size, SHORTLIST)
    tree_d, near = cKDTree(points).query(points[own], k=k, workers=query_workers())
    near = near.reshape(own.size, k)
    dist = _pattern_distances(points, own, near)
    dist[near == own[:, None]] = np.inf  # the row itself is its pattern's only row
    best = dist.min(axis=1)
    complete = (k == occupied.size) | (best * (1.0 + 1e-9) < tree_d.reshape(own.size, k)[:, -1] ** 2)
    for r in np.flatnonzero(~complete):  # more tied patterns than the shortlist: all of them
        everything = np.arange(occupied.size)[None, :]
        full = _pattern_distances(points, own[r : r + 1], everything)[0]
        full[own[r]] = np.inf
        near_r = np.flatnonzero(full == full.min())
        _pick(rows[r], occupied[near_r], counts, order, start, u, out)
    nearest = dist == best[:, None]
    one = complete & (nearest.sum(axis=1) == 1)  # a single nearest pattern: its rows in index order
    if bool(one.any()):
        pattern = occupied[near[one, nearest[one].argmax(axis=1)]]
        ties = counts[pattern]
        rank = np.minimum(np.floor(u[rows[one]] * ties.astype(np.float64)).astype(np.int64), ties - 1)
        out[rows[one]] = order[start[pattern] + rank]
    for r in np.flatnonzero(complete & ~one):
        _pick(rows[r], occupied[near[r][nearest[r]]], counts, order, start, u, out)


def _pattern_distances(points: np.ndarray, own: np.ndarray, near: np.ndarray) -> np.ndarray:
    """Squared distances from patterns ``own`` to ``near`` (``(m, k)``) in the order of the dense path.

    The dense path adds the candidate's square to the base distance accumulated column by column;
    the candidate is the last column of ``points``.
    """
    q, p = points[own][:, None, :], points[near]
    base = None
    for col in range(points.shape[1] - 1):
        sq = (q[..., col] - p[..., col]) ** 2
        base = sq if base is None else base + sq
    cand = (q[..., -1] - p[..., -1]) ** 2
    return cand if base is None else cand + base


def _pick(
    row: int,
    nearest: np.ndarray,
    counts: np.ndarray,
    order: np.ndarray,
    start: np.ndarray,
    u: np.ndarray,
    out: np.ndarray,
) -> None:
    """The ``floor(u * t)``-th row, in index order, of the ``t`` rows of the nearest patterns."""
    ties = int(counts[nearest].sum())
    rank = min(int(np.floor(u[row] * float(ties))), ties - 1)
    if nearest.size == 1:
        out[row] = order[start[nearest[0]] + rank]
    else:
        tied_rows = np.sort(np.concatenate([order[start[g] : start[g] + counts[g]] for g in nearest]))
        out[row] = tied_rows[rank]
