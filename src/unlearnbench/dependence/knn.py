"""Exact nearest neighbours for CODEC and FOCI, batched over candidate columns and chunked.

CODEC needs, for every row ``i``, the index of its Euclidean nearest neighbour among the
other rows, with ties (and duplicate points) broken uniformly at random. FOCI needs this
for many spaces at once: one greedy step asks, for every remaining candidate column ``j``,
for the nearest neighbours in the space of the selected columns plus column ``j``. This
module answers that question for all candidates of a step in one call.

The path is chosen per candidate by the shape of the data (:func:`choose_paths`), every one
exact and returning the same indices:

* ``groups`` (:mod:`.groups`): discrete data, identical rows grouped, ties never expanded;
* ``sort``: one dimension (no base column), one sort per candidate, in torch (any device);
* ``grid`` (:mod:`.grid`): on a CPU, up to :data:`~unlearnbench.dependence.grid.GRID_MAX_BASE`
  base columns: all candidates in one compiled call: with no base column one scan of each
  presorted column, with one a grid per candidate, with more a grid over the base columns
  shared by all candidates, ``O(n)`` expected per candidate (that shared grid not on clustered
  data, :func:`~unlearnbench.dependence.grid.grid_serves`);
* ``pruned``: the batched search below, in torch on the data's device, with the shortcuts
  described next (more base columns, or a GPU); on a CPU with many rows its base shortlists
  come from one ``cKDTree`` on the base columns (shared by all candidates) instead of an
  ``n x n`` block, and the rows it cannot certify go to a ``cKDTree`` per candidate, asked
  about those rows only; on jittered binary data (L-FOCI's attributes) the rows of small base
  groups skip the tree and are searched within their subgroup or across level patterns
  (:mod:`.patterns`, compiled), and once the base groups are small enough on average every row
  is listed by one pass over its group shared by all candidates (:mod:`.groupscan`); for a
  two-class target (``classes``) the rows of large groups are settled by their neighbour's
  class alone;
* ``clustered`` (:mod:`.clusters`): on a GPU, discrete data plus a little noise (L-FOCI's
  jittered attributes): rows grouped by the clusters of their base columns, brute force within
  each group, ``sum_g g^2`` distances instead of ``n^2``, certified by the gap between groups;
  the pairs left in small groups go to :mod:`.patterns` (on the host).

Rows a path cannot certify (ties, near-ties) are resolved by one dense rule for all paths.

Exactness: distances are never computed through ``|a|^2 + |b|^2 - 2ab`` (cancellation) but
as sums of squared coordinate differences, accumulated column by column in a fixed order.
The squared distance in the space ``base + [j]`` is therefore the base distance plus one
square, bit for bit in every code path, and adding a non-negative number never decreases
a float. That makes the shortcuts below exact, not approximate:

* no base column (the first FOCI step): in one dimension the nearest neighbour of a value
  is adjacent to it in sorted order, so all candidates are solved by one ``sort``;
* base columns: the base distance is a lower bound of the full distance. Each row is scored
  against a shortlist of rows close in the base space (with one base column, a window of
  its sorted order, read through ``unfold``; otherwise its ``K`` nearest base rows); if the
  best full distance is unique and strictly below the base distance of every row off the
  list, no other row can reach it and the answer is certified. Uncertified rows get
  shortlists ``WIDEN`` times wider, then a dense pass.

Ties: each row ``i`` carries a uniform number ``u_i``; among the ``t`` tied nearest rows
(in increasing index order) the ``floor(u_i * t)``-th is returned. Ties are always resolved
by a dense pass over the whole row (candidates where many rows tie, i.e. discrete data, go
dense at once), so the batched, pruned and one-candidate-at-a-time computations return the
same indices, and with independent ``u`` the choice is uniform over the tie set, as the
definition of CODEC asks. This dense tie resolution is what exact CODEC pays on discrete
data and L-CODEC's noise avoids.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree

from unlearnbench.dependence import groups as groups_module
from unlearnbench.dependence import groupscan, subgroupgrid
from unlearnbench.dependence import kdtree as kdtree_module
from unlearnbench.dependence.clusters import BaseClusters, looks_clustered
from unlearnbench.dependence.grid import (
    CANDIDATE_GRID_MAX_BASE,
    GRID_MAX_BASE,
    RankedColumns,
    grid_neighbours,
    grid_serves,
)
from unlearnbench.dependence.groups import (
    BaseGroups,
    column_codes,
    grouped_neighbours,
    looks_discrete,
)
from unlearnbench.dependence.kdtree import kdtree_neighbours
from unlearnbench.dependence.patterns import LevelPatterns

Tensor = torch.Tensor

# Elements of one intermediate block (float64: 8 bytes each, so 2**24 elements = 128 MiB).
DEFAULT_MAX_ELEMENTS = 1 << 24
# A candidate with more than this share of tied rows (discrete data) is recomputed densely in one go.
DENSE_SWITCH = 0.25
# Elements per block on CPU, small enough to stay in cache: measured on a 2-core EPYC, 2**20 for the
# gathered shortlists and the dense pass (2x faster than 2**24) and 2**18 for the sorted window.
CPU_WORK_BLOCK = 1 << 20
CPU_SWEEP_BLOCK = 1 << 18
# On a GPU, clustered data are searched within base groups when that computes this many times fewer
# distances than an n x n pass (see choose_paths). Measured on an H200, L-FOCI Male on the 202,599-row
# stand-in table, every step through one path: at sum_g g^2 / n^2 = 0.22 (4 base columns) 15.7 s
# against 11.8 s for the pruned path; at 0.16 (5 columns) 11.9 s against 13.4 s.
CLUSTERED_GAIN = 6
# Each widening pass multiplies the shortlist by this before the dense repair takes over.
WIDEN = 4
STRATEGIES = ("auto", "dense", "sort", "grid", "groups", "clustered", "pruned")
# From this many rows on a CPU, the batched brute force shortlists base neighbours with one k-d tree
# per call (shared by all candidates) instead of an n x n block of base distances, and hands the
# rows its shortlists cannot certify to a k-d tree per candidate. Measured (under load, 1 thread):
# at 1000 rows x 100 columns 1.6x faster than the n x n blocks and their widening passes
# (whose top-k over whole rows dominated), at 1000 x 2000 within the noise; no gain at 500 rows.
TREE_SHORTLIST_ROWS = 1000
TREE_ROWS_PER_BLOCK = 4096
# Pairs left open by the shortlists on jittered binary data are searched by scanning their base
# group (patterns.py) up to this many rows in it, beyond by a k-d tree per candidate.
PATTERN_SCAN_ROWS = 1024
# On jittered binary data, the rows to search are searched within their base group by one pass
# shared by all candidates (groupscan.py) instead of k-d trees when their base groups hold at most
# this many rows on average (a pass costs the group's size, a tree query roughly its dimension).
# Measured, L-FOCI Male on the full-size stand-in, 1 thread, the same step through both: mean group
# 33,204 rows (4 base columns) 18.9 s against 6.1 s for the trees; 18,903 (5) 8.3 s against 8.5 s;
# 10,372 (6) 4.7 s against 9.0 s; 4,098 (12) 2.6 s against 17.8 s.
GROUP_PASS_MAX_ROWS = 16_384
# A two-class target's rows in base groups above GROUP_PASS_MAX_ROWS, from this many base columns
# on, are settled by their neighbour's class (groupscan.neighbour_classes) when the rarer class of
# their group, times the columns, is at most CLASS_SEARCH_MAX_WORK (its full scan). Measured, L-FOCI
# No_Beard on the full-size stand-in: see the README's performance notes.
CLASS_SEARCH_MIN_BASE = 6
CLASS_SEARCH_MAX_WORK = 100_000
# Up to this many base columns, jittered binary data are searched by a grid per subgroup
# (subgroupgrid.py) instead of the group pass or the k-d trees. Measured, 2 threads, stored L-FOCI
# steps of the full-size stand-in, whole call, same scores: Male with 2, 3, 4, 5 selected 1.1, 1.6,
# 2.6, 4.2 s against 5.4, 4.4, 4.3, 5.0 s before; No_Beard with 2, 3, 4: 1.8, 3.2, 5.3 s against
# 9.7, 6.6, 7.4 s. With 6 the grid alone took 6.0 s (Male) and 17.3 s (No_Beard) against 3.2 and
# 13.8 s for the other paths: in seven dimensions a row's search scans too many cells.
SUBGROUP_GRID_MAX_BASE = 5


def squared_distances(queries: Tensor, points: Tensor) -> Tensor:
    """``(b, n)`` squared Euclidean distances, accumulated column by column in column order.

    The fixed accumulation order is what makes every code path of this module agree bit for
    bit; a query row is not excluded from its own row here.
    """
    if queries.shape[1] != points.shape[1]:
        raise ValueError(f"queries have {queries.shape[1]} columns but points have {points.shape[1]}")
    if points.shape[1] == 0:
        return torch.zeros(queries.shape[0], points.shape[0], dtype=points.dtype, device=points.device)
    out = (queries[:, 0, None] - points[None, :, 0]).square_()
    for col in range(1, points.shape[1]):
        out.add_((queries[:, col, None] - points[None, :, col]).square_())
    return out


def nearest_neighbours(
    points: Tensor, u: Tensor, *, strategy: str = "auto", max_elements: int = DEFAULT_MAX_ELEMENTS
) -> Tensor:
    """Index of each row's nearest other row, ``(n,)`` int64; ties resolved with ``u`` (see module doc).

    ``strategy="dense"`` computes every pairwise distance (the plain reference);
    ``"auto"`` uses the exact shortcuts of :func:`candidate_nearest_neighbours`.
    """
    _check_points(points, "points")
    if points.shape[1] == 0:
        raise ValueError("points have no columns; nearest neighbours need at least one coordinate")
    base, last = points[:, :-1], points[:, -1:]
    return candidate_nearest_neighbours(base, last, u, strategy=strategy, max_elements=max_elements)[0]


def candidate_nearest_neighbours(
    base: Tensor,
    candidates: Tensor,
    u: Tensor,
    *,
    asked: Tensor | None = None,
    classes: Tensor | None = None,
    strategy: str = "auto",
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Tensor:
    """Nearest neighbours in the space ``[base, candidates[:, j]]`` for every candidate ``j``.

    ``base`` is ``(n, s)`` (``s`` may be 0), ``candidates`` ``(n, c)``, ``u`` ``(n,)`` uniforms in
    ``[0, 1)`` for tie-breaking. Returns ``(c, n)`` int64 indices, never a row itself, except
    that with ``asked`` (increasing row indices) only those rows are searched and every other
    row is answered with itself: FOCI's rows of least rank need no neighbour (see
    :func:`unlearnbench.dependence.foci.rows_needing_neighbours`), and the paths that search row
    by row (``pruned``, the host searches of ``clustered``) then skip them. With ``classes``
    (an ``(n,)`` bool mask: a target with two values, split in two classes), an asked row's
    answer may be any row of the class of its nearest neighbour, all FOCI needs of a binary
    target: on jittered binary data the ``pruned`` path then settles many rows by their class
    alone (:func:`~unlearnbench.dependence.groupscan.neighbour_classes`).
    """
    _check_points(base, "base")
    _check_points(candidates, "candidates")
    n = base.shape[0]
    if candidates.shape[0] != n:
        raise ValueError(f"base has {n} rows but candidates have {candidates.shape[0]}")
    if n < 2:
        raise ValueError(f"nearest neighbours need at least 2 rows, got {n}")
    if candidates.dtype != base.dtype or candidates.device != base.device:
        raise ValueError(
            f"base ({base.dtype}, {base.device}) and candidates ({candidates.dtype}, {candidates.device}) "
            "must share dtype and device"
        )
    if u.shape != (n,):
        raise ValueError(f"u must have shape ({n},), got {tuple(u.shape)}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if max_elements < n:
        raise ValueError(f"max_elements={max_elements} is smaller than one distance row ({n})")
    u = u.to(device=base.device, dtype=torch.float64)
    c = candidates.shape[1]
    if c == 0:
        return torch.empty(0, n, dtype=torch.long, device=base.device)
    skipped = _skipped_rows(asked, n, base.device)
    if classes is not None and (classes.shape != (n,) or classes.dtype != torch.bool):
        raise ValueError(f"classes must be an ({n},) bool mask, got {classes.dtype} {tuple(classes.shape)}")
    if strategy == "dense" or n <= 2:
        if skipped is None:
            return _dense(base, candidates, u, max_elements)
        out = torch.arange(n, device=base.device).repeat(c, 1)
        out[:, ~skipped] = _dense(base, candidates, u, max_elements, asked=asked)
        return out
    plan = choose_paths(base, candidates, strategy)
    if len(plan) == 1:  # one path for every candidate: its own answers, no (c, n) copies
        path, (_, extra) = next(iter(plan.items()))
        out, bad = _run_path(path, base, candidates, u, max_elements, extra, skipped, classes)
    else:
        out = torch.empty(c, n, dtype=torch.long, device=base.device)
        bad = torch.zeros(c, n, dtype=torch.bool, device=base.device)
        for path, (cols, extra) in plan.items():
            index = torch.as_tensor(cols, dtype=torch.long, device=base.device)
            part_out, part_bad = _run_path(
                path, base, candidates[:, index], u, max_elements, extra, skipped, classes
            )
            out[index], bad[index] = part_out, part_bad
    if skipped is not None:
        out[:, skipped] = torch.arange(n, device=base.device)[skipped]
        bad[:, skipped] = False
    resolve_flagged(base, candidates, u, out, bad, max_elements)  # ties and stubborn rows, exactly
    return out


def _skipped_rows(asked: Tensor | None, n: int, device: torch.device) -> Tensor | None:
    """The rows not ``asked`` as an ``(n,)`` mask, or None when every row is asked."""
    if asked is None:
        return None
    if asked.ndim != 1 or asked.dtype != torch.long:
        raise ValueError(
            f"asked must be a 1-D int64 tensor of row indices, got {asked.dtype} {tuple(asked.shape)}"
        )
    if asked.numel() and (int(asked.min()) < 0 or int(asked.max()) >= n):
        raise ValueError(f"asked holds row indices outside 0..{n - 1}")
    if asked.numel() > 1 and not bool((asked[1:] > asked[:-1]).all()):
        raise ValueError("asked must hold increasing row indices (no repeats)")
    if asked.numel() == n:
        return None
    skipped = torch.ones(n, dtype=torch.bool, device=device)
    skipped[asked.to(device)] = False
    return skipped


def choose_paths(
    base: Tensor, candidates: Tensor, strategy: str = "auto"
) -> dict[str, tuple[list[int], Any]]:
    """Which path answers which candidate column: ``{path: (columns, path data)}``.

    ``"auto"`` picks by the shape of the data, per candidate: ``groups`` when the base and the
    candidate are discrete (few distinct row patterns: ties are grouped, not expanded);
    otherwise, on a CPU, ``grid`` up to :data:`~unlearnbench.dependence.grid.GRID_MAX_BASE` base
    columns (fewer on clustered data, :func:`~unlearnbench.dependence.grid.grid_serves`); on a
    GPU ``sort`` without base columns; else ``pruned`` (batched brute force with
    exact shortlists: many base columns, or a GPU), on a GPU ``clustered`` (a search within base
    groups, :mod:`.clusters`) for clustered data (see :func:`_continuous_path`). A named strategy
    forces its path for every candidate (``sort`` needs an empty base, ``grid`` at most
    ``GRID_MAX_BASE`` base columns, ``clustered`` base columns in clusters).
    """
    n, s = base.shape
    c = candidates.shape[1]
    if strategy == "sort" and s > 0:
        raise ValueError(f"strategy 'sort' needs no base columns, got {s}")
    if strategy == "grid" and s > GRID_MAX_BASE:
        raise ValueError(f"strategy 'grid' takes at most {GRID_MAX_BASE} base columns, got {s}")
    if strategy in ("sort", "grid", "pruned"):
        return {strategy: (list(range(c)), None)}
    if strategy == "clustered":  # without base columns: the sorted scan (as ``pruned``)
        clusters = BaseClusters.of(base) if s > 0 else None
        if s > 0 and clusters is None:
            raise ValueError("strategy 'clustered' needs base columns that fall into clusters")
        return {strategy: (list(range(c)), [clusters] * c)}
    base_np = base.detach().cpu().numpy() if strategy == "groups" or _all_discrete(base) else None
    cands_np = candidates.detach().cpu().numpy() if base_np is not None else None
    groups = None if base_np is None else BaseGroups(base_np)
    plan: dict[str, tuple[list[int], Any]] = {}
    fallback, fallback_extra = _continuous_path(base, candidates)
    for j in range(c):
        path, extra = fallback, fallback_extra
        if groups is not None and cands_np is not None and (strategy == "groups" or groups.separated):
            column = cands_np[:, j]
            if strategy == "groups" or looks_discrete(column):
                values, codes = column_codes(column)
                if strategy == "groups" or groups.fits(values):
                    path, extra = "groups", (groups, values, codes)
        if strategy == "groups" and path != "groups":
            raise ValueError("strategy 'groups' could not group this data")
        cols, extras = plan.setdefault(path, ([], []))
        cols.append(j)
        extras.append(extra)
    return plan


def _continuous_path(base: Tensor, candidates: Tensor) -> tuple[str, BaseClusters | None]:
    """The path for candidates that no grouping of ties serves, and its data.

    On a CPU the grid where it serves (:func:`~unlearnbench.dependence.grid.grid_serves`), else
    ``pruned``. On a GPU ``sort`` without base columns; with them, on clustered data, the search
    within base groups (:mod:`.clusters`) when it computes :data:`CLUSTERED_GAIN` times fewer
    distances than an ``n x n`` pass, else ``pruned``.
    """
    n, s = base.shape
    if base.device.type == "cpu":
        clustered = CANDIDATE_GRID_MAX_BASE < s <= GRID_MAX_BASE and _all_clustered(base, candidates)
        return ("grid" if grid_serves(s, clustered) else "pruned"), None
    if s == 0:
        return "sort", None
    if _all_clustered(base, candidates):
        clusters = BaseClusters.of(base)
        if clusters is not None and clusters.pairs() * CLUSTERED_GAIN <= n * n:
            return "clustered", clusters
    return "pruned", None


def _all_discrete(base: Tensor) -> bool:
    cpu = base[: groups_module.SAMPLE_ROWS].detach().cpu().numpy()
    return all(looks_discrete(cpu[:, k]) for k in range(base.shape[1]))


def _all_clustered(base: Tensor, candidates: Tensor) -> bool:
    rows = groups_module.SAMPLE_ROWS
    head = torch.cat([base[:rows], candidates[:rows]], dim=1).detach().cpu().numpy()
    return all(looks_clustered(head[:, k]) for k in range(head.shape[1]))


def _run_path(
    path: str,
    base: Tensor,
    candidates: Tensor,
    u: Tensor,
    max_elements: int,
    extra: Any,
    skipped: Tensor | None = None,
    classes: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Answers ``(c, n)`` and rows left to repair ``(c, n)`` of one path for its candidates.

    ``skipped`` rows (a mask, None: none) need no answer; the paths that search row by row leave
    them out, the others answer them anyway (the caller overwrites them).
    """
    if path == "sort":
        return _sorted_1d(candidates)
    if path == "clustered":
        if base.shape[1] == 0:
            return _sorted_1d(candidates)
        return _clustered(base, candidates, u, max_elements, extra[0], skipped)
    if path == "pruned":
        if base.shape[1] == 0:
            return _sorted_1d(candidates)
        return _pruned(base, candidates, u, max_elements, skipped, classes)
    n, c = candidates.shape
    out = np.empty((c, n), dtype=np.int64)
    bad = np.empty((c, n), dtype=bool)
    if path == "grid":
        out, bad = _grid(base, candidates)
    elif path == "groups":
        u_np = u.detach().cpu().numpy()
        for j, (groups, values, codes) in enumerate(extra):
            out[j], bad[j] = grouped_neighbours(groups, values, codes, u_np)
    else:
        raise ValueError(f"unknown path {path!r}")
    return torch.from_numpy(out).to(base.device), torch.from_numpy(bad).to(base.device)


# --------------------------------------------------------------------------- strategies


def _grid(base: Tensor, candidates: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The :mod:`.grid` path: the columns sorted here (FOCI sorts them once per call instead)."""
    s = base.shape[1]
    ranked = RankedColumns(torch.cat([base, candidates], dim=1).detach().cpu().numpy())
    return grid_neighbours(ranked, list(range(s)), list(range(s, s + candidates.shape[1])))


def _dense(
    base: Tensor, candidates: Tensor, u: Tensor, max_elements: int, asked: Tensor | None = None
) -> Tensor:
    """Every pairwise distance, blocked over rows and candidates; exact ties in index order.

    ``asked`` (default all rows) are the rows answered: ``(c, m)`` for ``m`` asked rows.
    """
    n, c = candidates.shape
    m = n if asked is None else asked.shape[0]
    out = torch.empty(c, m, dtype=torch.long, device=base.device)
    block = _work_block(base, max_elements)
    rows_per_block = min(max(1, max_elements // n), max(32, block // n))  # not too few rows when n is large
    for at in _blocks(m, rows_per_block):
        rows = at if asked is None else asked[at]
        dbase = _base_block(base, rows)
        for cols in _blocks(c, max(1, block // dbase.numel())):
            q = candidates[rows, cols].T  # (c', b)
            p = candidates[:, cols].T  # (c', n)
            dist = (q[:, :, None] - p[:, None, :]).square_().add_(dbase[None])  # (c', b, n)
            out[cols, at] = _pick_index_order(dist, u[rows])[0]
    return out


def _clustered(
    base: Tensor,
    candidates: Tensor,
    u: Tensor,
    max_elements: int,
    clusters: BaseClusters,
    skipped: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Brute force within the base groups of :mod:`.clusters`; rows not certified are flagged.

    Each group's rows are compared with the group's rows only, with the floats and the tie rule
    of :func:`_dense` (a group lists its rows in index order); an answer counts when it is below
    the groups' bound, so no row of another group can be as near. On jittered binary data the
    pairs left (rows alone in their group, or whose nearest row in the group is not below the
    bound) go to the compiled searches of :mod:`.patterns`. On other data they go to the dense
    repair: rows alone in their group at once for every candidate (their base distances computed
    once, not once per candidate), the others one candidate at a time. ``skipped`` rows are not
    searched after the brute force (their answers there are free).
    """
    n, c = candidates.shape
    s = base.shape[1]
    out = torch.zeros(c, n, dtype=torch.long, device=base.device)
    bad = torch.ones(c, n, dtype=torch.bool, device=base.device)
    work = _work_block(base, max_elements)
    for members in clusters.batches(work):
        m, width = members.shape
        valid = members >= 0
        idx = members.clamp(min=0)
        points = base[idx]  # (m, P, s)
        for rows in _blocks(width, max(1, work // (m * width))):
            b = rows.stop - rows.start
            q = points[:, rows]
            dbase = (q[:, :, None, 0] - points[:, None, :, 0]).square_()  # (m, b, P), column order
            for col in range(1, s):
                dbase.add_((q[:, :, None, col] - points[:, None, :, col]).square_())
            dbase.masked_fill_(~valid[:, None, :], math.inf)
            own = torch.arange(b, device=base.device)
            dbase[:, own, rows.start + own] = math.inf  # the row itself
            asked, asked_valid = idx[:, rows], valid[:, rows]
            for cols in _blocks(c, max(1, work // dbase.numel())):
                values = candidates[:, cols]
                xq = values[asked].permute(2, 0, 1)  # (c', m, b)
                xp = values[idx].permute(2, 0, 1)  # (c', m, P)
                dist = (xq[..., None] - xp[:, :, None, :]).square_().add_(dbase[None])  # as _dense
                pick, best = _pick_index_order(dist, u[asked])  # (c', m, b): a position in the group
                found = torch.gather(idx[None].expand(pick.shape[0], m, width), 2, pick)
                out[cols, asked[asked_valid]] = found[:, asked_valid]
                bad[cols, asked[asked_valid]] = ~(best[:, asked_valid] < clusters.bound)
    alone = clusters.alone()
    if skipped is not None:
        bad[:, skipped] = False
        alone = alone[~skipped[alone]]
    patterns = LevelPatterns.of(base.detach().cpu().numpy(), candidates.detach().cpu().numpy())
    if patterns is None:
        if alone.numel():
            out[:, alone] = _dense(base, candidates, u, max_elements, asked=alone)
            bad[:, alone] = False
        return out, bad
    # jittered binary data: the pairs left in small groups (rows alone in their group, or alone with
    # their level) by the compiled search across level patterns, on the host, instead of a pass over
    # all rows each; in a large group scanning the group on the host costs more than that pass
    bad[:, alone] = True
    small = torch.from_numpy(patterns.group_sizes() <= PATTERN_SCAN_ROWS).to(base.device)
    if skipped is not None:
        small &= ~skipped
    cand_idx, row_idx = (bad & small[None, :]).nonzero(as_tuple=True)
    found, flagged = patterns.search(cand_idx.cpu().numpy(), row_idx.cpu().numpy())
    out[cand_idx, row_idx] = torch.from_numpy(found).to(base.device)
    bad[cand_idx, row_idx] = torch.from_numpy(flagged).to(base.device)
    return out, bad


def _sorted_1d(candidates: Tensor) -> tuple[Tensor, Tensor]:
    """One dimension: the nearest neighbour is adjacent in sorted order; ties are flagged, not solved."""
    n, c = candidates.shape
    values, order = torch.sort(candidates.T.contiguous(), dim=1, stable=True)  # (c, n), rows sorted
    inf = torch.full((c, 2), math.inf, dtype=values.dtype, device=values.device)
    gap1 = (values[:, 1:] - values[:, :-1]).square_()  # squared distance between sorted positions t, t+1
    gap2 = (values[:, 2:] - values[:, :-2]).square_()
    left = torch.cat([inf[:, :1], gap1], dim=1)  # to position t - 1
    right = torch.cat([gap1, inf[:, :1]], dim=1)  # to position t + 1
    left2 = torch.cat([inf, gap2], dim=1)
    right2 = torch.cat([gap2, inf], dim=1)
    best = torch.minimum(left, right)
    # squared distances grow (weakly) away from a value in sorted order, even in floating point,
    # so the nearest value is unique unless one of these equalities holds
    tie = (left == right) | ((left == best) & (left2 == best)) | ((right == best) & (right2 == best))
    step = torch.where(left < right, -1, 1)
    positions = (torch.arange(n, device=values.device)[None, :] + step).clamp_(0, n - 1)
    neighbour = torch.gather(order, 1, positions)
    out = torch.empty_like(order)
    uncertified = torch.empty_like(tie)
    out.scatter_(1, order, neighbour)
    uncertified.scatter_(1, order, tie)
    return out, uncertified


def _sweep(base: Tensor, candidates: Tensor, k: int, max_elements: int) -> tuple[Tensor, Tensor, Tensor]:
    """One base column: the base shortlist of a row is a window of its sorted order.

    Rows are sorted by the base value; row ``t`` is scored against positions ``t-w .. t+w``
    (``w = k // 2``) of every candidate at once through ``unfold`` (a strided view, no gather).
    Every row outside the window is at least as far in the base column as the nearer of
    positions ``t-w-1`` and ``t+w+1``, which is the certificate threshold. Returns ``(c, n)``
    answers, certified and tied masks, like :func:`_shortlist_block`.
    """
    n, c = candidates.shape
    w = max(1, min(k // 2, n - 1))
    width = 2 * w + 1
    order = torch.argsort(base[:, 0], stable=True)
    bs = base[order, 0]
    inf = torch.full((w + 1,), math.inf, dtype=bs.dtype, device=bs.device)
    padded = torch.cat([-inf, bs, inf])  # positions t - w - 1 .. t + w + 1 exist for every t
    window_d = (padded[1:-1].unfold(0, width, 1) - bs[:, None]).square_()  # (n, width), exact base distances
    window_d[:, w] = math.inf  # the row itself
    threshold = torch.minimum((bs - padded[:n]).square_(), (padded[width + 1 :] - bs).square_())
    pad_rows = torch.full((w, c), math.inf, dtype=candidates.dtype, device=candidates.device)
    xs = torch.cat([pad_rows, candidates[order], pad_rows])  # (n + 2w, c), rows in sorted order
    arg_s = torch.empty(n, c, dtype=torch.long, device=base.device)
    certified = torch.empty(n, c, dtype=torch.bool, device=base.device)
    tied = torch.empty(n, c, dtype=torch.bool, device=base.device)
    for rows in _blocks(n, max(1, _work_block(base, max_elements, CPU_SWEEP_BLOCK) // (width * c))):
        t0, t1 = rows.start, rows.stop
        window = xs[t0 : t1 + 2 * w].unfold(0, width, 1).permute(0, 2, 1)  # (b, width, c) view
        dist = window - xs[t0 + w : t1 + w, None, :]
        dist.square_().add_(window_d[rows, :, None])  # = base + (x_i - x_k)^2, bit for bit
        best, arg = dist.min(dim=1)  # (b, c)
        dist.scatter_(1, arg[:, None, :], math.inf)
        unique = dist.amin(dim=1) > best
        below = best < threshold[rows, None]
        arg_s[rows] = arg
        certified[rows] = unique & below
        tied[rows] = ~unique & below
    neighbours = order[torch.arange(n, device=base.device)[:, None] + arg_s - w]  # (n, c), sorted rows
    return _unsort(neighbours, order), _unsort(certified, order), _unsort(tied, order)


def _unsort(values: Tensor, order: Tensor) -> Tensor:
    """``(n, c)`` values of rows in sorted order -> ``(c, n)`` in original row order."""
    out = torch.empty_like(values)
    out[order] = values
    return out.T.contiguous()


def _shortlist_block(
    base: Tensor, candidates: Tensor, k: int, max_elements: int, asked: np.ndarray | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Score every row against its ``k`` nearest rows in the base space, all candidates at once.

    An answer is certified when it is unique and strictly below the ``(k+1)``-th smallest base
    distance of its row; it is a tie when below but not unique (the exact tie rule then needs
    the whole row). The shortlisted rows of ``candidates`` (``(n, c)``, contiguous) are gathered
    whole, so every operation runs along contiguous candidate rows. ``asked`` (default all) are
    the rows scored, ``m`` of them. Returns ``(c, m)`` tensors.
    """
    n, c = candidates.shape
    m = n if asked is None else asked.size
    out = torch.empty(m, c, dtype=torch.long, device=base.device)
    certified = torch.empty(m, c, dtype=torch.bool, device=base.device)
    tied = torch.empty(m, c, dtype=torch.bool, device=base.device)
    tree = _base_tree(base)
    for block in _blocks(m, TREE_ROWS_PER_BLOCK if tree is not None else max(1, max_elements // n)):
        rows = block if asked is None else asked[block]
        if tree is None:
            rows_t = rows if asked is None else torch.from_numpy(rows).to(base.device)
            near_d, near_i, threshold = _shortlist(_base_block(base, rows_t), k)
        else:
            near_d, near_i, threshold = _tree_shortlist(tree, base, rows, k)
        kk = near_i.shape[1]
        for sub in _blocks(
            near_i.shape[0], max(1, _work_block(base, max_elements, CPU_SWEEP_BLOCK) // (kk * c))
        ):
            ids = near_i[sub]
            dist = candidates[ids.reshape(-1)].view(ids.shape[0], kk, c)
            at = slice(block.start + sub.start, block.start + sub.stop)  # positions among the asked rows
            own = candidates[at] if asked is None else candidates[torch.from_numpy(asked[at])]
            dist.sub_(own[:, None, :]).square_().add_(near_d[sub, :, None])  # bit for bit as dense
            best, arg = dist.min(dim=1)  # (b, c)
            dist.scatter_(1, arg[:, None, :], math.inf)
            unique = dist.amin(dim=1) > best
            below = best < threshold[sub, None]
            out[at] = torch.gather(ids, 1, arg)
            certified[at] = unique & below
            tied[at] = ~unique & below
    return out.T.contiguous(), certified.T.contiguous(), tied.T.contiguous()


def _shortlist_pairs(
    base: Tensor, cand_t: Tensor, cand_idx: Tensor, row_idx: Tensor, k: int, max_elements: int
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`_shortlist_block` for scattered (candidate, row) pairs, with a wider shortlist."""
    c, n = cand_t.shape
    m = cand_idx.shape[0]
    out = torch.empty(m, dtype=torch.long, device=base.device)
    certified = torch.zeros(m, dtype=torch.bool, device=base.device)
    tied = torch.zeros(m, dtype=torch.bool, device=base.device)
    rows_unique, inverse = torch.unique(row_idx, return_inverse=True)
    flat_values = cand_t.reshape(-1)
    tree = _base_tree(base) if k + 2 <= n else None
    per_block = max(1, max_elements // n) if tree is None else max(1, TREE_ROWS_PER_BLOCK * 8 // k)
    for block in _blocks(rows_unique.shape[0], per_block):
        if tree is None:
            near_d, near_i, threshold = _shortlist(_base_block(base, rows_unique[block]), k)
        else:
            near_d, near_i, threshold = _tree_shortlist(tree, base, rows_unique[block].numpy(), k)
        in_block = ((inverse >= block.start) & (inverse < block.stop)).nonzero(as_tuple=True)[0]
        for chunk in _blocks(in_block.shape[0], max(1, _work_block(base, max_elements) // k)):
            pair = in_block[chunk]
            local = inverse[pair] - block.start
            cj, ri = cand_idx[pair], row_idx[pair]
            ni = near_i[local]  # (m', k)
            offset = cj * n
            dist = flat_values.index_select(0, (offset[:, None] + ni).reshape(-1)).view(ni.shape)
            own = flat_values.index_select(0, offset + ri)
            dist.sub_(own[:, None]).square_().add_(near_d[local])
            best, arg = dist.min(dim=1)
            dist.scatter_(1, arg[:, None], math.inf)
            unique = dist.amin(dim=1) > best
            below = best < threshold[local]
            out[pair] = torch.gather(ni, 1, arg[:, None])[:, 0]
            certified[pair] = unique & below
            tied[pair] = ~unique & below
    return out, certified, tied


def _pruned(
    base: Tensor,
    candidates: Tensor,
    u: Tensor,
    max_elements: int,
    skipped: Tensor | None = None,
    classes: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Shortlists of growing width; returns the answers and the (candidate, row) pairs still to
    repair. ``skipped`` rows (a mask) are searched only where a whole pass is cheaper (one base
    column); they are never repaired."""
    n, c = candidates.shape
    candidates = candidates.contiguous()
    k = _pruning_width(n, base.shape[1])
    patterns = _level_patterns(base, candidates)
    if patterns is not None:
        return _pruned_by_patterns(base, candidates, k, max_elements, patterns, skipped, classes)
    if base.shape[1] == 1:
        out, certified, tied = _sweep(base, candidates, k, max_elements)
    else:
        out, certified, tied = _shortlists(base, candidates, k, max_elements, skipped)
    if skipped is not None:
        certified[:, skipped], tied[:, skipped] = True, False
    _dense_heavy(base, candidates, u, out, tied, certified, max_elements)
    open_ = ~(certified | tied)
    if _base_tree_used(base):  # the rest by a k-d tree per candidate, asked only about those rows
        _tree_repair(base, candidates, open_, out, tied)
    cand_t = candidates.T.contiguous() if bool(open_.any()) else candidates.T
    while bool(open_.any()) and k * WIDEN < n - 1:
        k *= WIDEN
        cand_idx, row_idx = open_.nonzero(as_tuple=True)
        found, ok, tie = _shortlist_pairs(base, cand_t, cand_idx, row_idx, k, max_elements)
        out[cand_idx[ok], row_idx[ok]] = found[ok]
        open_[cand_idx[ok | tie], row_idx[ok | tie]] = False
        tied[cand_idx[tie], row_idx[tie]] = True
    return out, open_ | tied


def _shortlists(
    base: Tensor, candidates: Tensor, k: int, max_elements: int, skipped: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`_shortlist_block` for the rows not ``skipped``, as ``(c, n)`` tensors (a skipped row:
    answered with itself, certified)."""
    if skipped is None:
        return _shortlist_block(base, candidates, k, max_elements)
    n, c = candidates.shape
    out = torch.arange(n, device=base.device).repeat(c, 1)
    certified = torch.ones(c, n, dtype=torch.bool, device=base.device)
    tied = torch.zeros(c, n, dtype=torch.bool, device=base.device)
    asked = (~skipped).nonzero(as_tuple=True)[0]
    if asked.numel():
        found = _shortlist_block(base, candidates, k, max_elements, asked.cpu().numpy())
        out[:, asked], certified[:, asked], tied[:, asked] = found
    return out, certified, tied


def _tree_repair(base: Tensor, candidates: Tensor, open_: Tensor, out: Tensor, tied: Tensor) -> None:
    """Answer the ``open_`` (candidate, row) pairs with a k-d tree per candidate, in place; ties and
    near-ties are marked in ``tied`` (for the dense repair), and every pair is closed."""
    base_np, cands_np = base.detach().numpy(), candidates.detach().numpy()
    for j in open_.any(dim=1).nonzero(as_tuple=True)[0].tolist():
        rows = open_[j].nonzero(as_tuple=True)[0]
        found, bad = kdtree_neighbours(base_np, cands_np[:, j], rows=rows.numpy())
        out[j, rows] = torch.from_numpy(found)
        tied[j, rows] = torch.from_numpy(bad)
        open_[j, rows] = False


def _level_patterns(base: Tensor, candidates: Tensor) -> LevelPatterns | None:
    """On a CPU with many rows, jittered binary data (L-FOCI's CelebA attributes): their levels."""
    if not _base_tree_used(base) or not _all_clustered(base, candidates):
        return None
    return LevelPatterns.of(base.detach().numpy(), candidates.detach().numpy())


def _pruned_by_patterns(
    base: Tensor,
    candidates: Tensor,
    k: int,
    max_elements: int,
    patterns: LevelPatterns,
    skipped: Tensor | None = None,
    classes: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`_pruned` on jittered binary data. Up to :data:`SUBGROUP_GRID_MAX_BASE` base columns
    every row with company in its base group is searched by a grid per subgroup
    (:mod:`.subgroupgrid`). With more, the rows whose base group holds a whole shortlist get one,
    by a pass over their group shared by all candidates (:mod:`.groupscan`) when the groups are
    small enough on average (:data:`GROUP_PASS_MAX_ROWS`), else by one k-d tree on the base
    columns and a tree per candidate for what the lists leave open. Every other (candidate, row)
    pair goes to the compiled searches of :mod:`.patterns`: within its subgroup, or across level
    patterns when it is alone there.

    A row whose base group is smaller than its shortlist would send the tree out of the group,
    through 20 to 40 dimensions of other groups: on the full-size stand-in table those queries took
    57 of the 74 s of a late step. ``skipped`` rows are not searched. With ``classes`` (a
    two-class target) the rows of groups above :data:`GROUP_PASS_MAX_ROWS`, from
    :data:`CLASS_SEARCH_MIN_BASE` base columns, are first settled by their neighbour's class
    (:func:`~unlearnbench.dependence.groupscan.neighbour_classes`), where both other ways scan
    tens of thousands of rows per row. Returns the answers and the pairs still to repair.
    """
    n, c = candidates.shape
    out = torch.zeros(c, n, dtype=torch.long)
    done = torch.zeros(c, n, dtype=torch.bool)
    tied = torch.zeros(c, n, dtype=torch.bool)
    sizes = patterns.group_sizes()
    if skipped is not None:
        done[:, skipped] = True
    asked = np.ones(n, dtype=bool) if skipped is None else ~skipped.numpy()
    if classes is not None and base.shape[1] >= CLASS_SEARCH_MIN_BASE:  # a two-class target
        upper = classes.cpu().numpy()
        rows = np.flatnonzero(asked & (sizes > GROUP_PASS_MAX_ROWS))  # where both other paths are slow
        rare = groupscan.minority_sizes(patterns, rows, upper)
        rows = rows[rare * (base.shape[1] + c) <= CLASS_SEARCH_MAX_WORK]
        if rows.size:
            found, decided = groupscan.neighbour_classes(patterns, rows, upper)
            at = torch.from_numpy(rows)
            out[:, at], done[:, at] = torch.from_numpy(found), torch.from_numpy(decided)
            asked[rows[decided.all(axis=0)]] = False
    if base.shape[1] <= SUBGROUP_GRID_MAX_BASE:  # a grid per subgroup, every candidate in one call
        rows = np.flatnonzero(asked & (sizes >= 2))
        if rows.size:
            found, certified = subgroupgrid.nearest_by_subgroup_grids(patterns, rows)
            at = torch.from_numpy(rows)
            out[:, at], done[:, at] = torch.from_numpy(found), torch.from_numpy(certified)
        return _search_open(patterns, out, done, tied)
    by_groups = sizes[asked].mean() <= GROUP_PASS_MAX_ROWS if asked.any() else True
    listed = np.flatnonzero(asked & (sizes >= (groupscan.SHORTLIST if by_groups else k) + 2))
    if by_groups:
        if listed.size:
            found, certified = groupscan.nearest_in_groups(patterns, listed)
            at = torch.from_numpy(listed)
            out[:, at], done[:, at] = torch.from_numpy(found), torch.from_numpy(certified)
        return _search_open(patterns, out, done, tied)
    if listed.size:  # base lists from one k-d tree, certified per candidate by the compiled pass
        tree = _base_tree(base)
        for block in _blocks(listed.size, TREE_ROWS_PER_BLOCK):
            rows = listed[block]
            near_d, near_i, threshold = _tree_shortlist(tree, base, rows, k)
            found, certified = groupscan.certify_lists(
                patterns, rows, near_d.numpy(), near_i.numpy(), threshold.numpy()
            )
            at = torch.from_numpy(rows)
            out[:, at], done[:, at] = torch.from_numpy(found), torch.from_numpy(certified)
    big = torch.from_numpy(sizes > PATTERN_SCAN_ROWS)
    _tree_repair(base, candidates, ~done & big, out, tied)  # scanning a large group costs more
    return _search_open(patterns, out, done | big, tied)


def _search_open(patterns: LevelPatterns, out: Tensor, done: Tensor, tied: Tensor) -> tuple[Tensor, Tensor]:
    """The pairs not ``done`` by the compiled pattern search, in place; returns ``out`` and the
    pairs flagged for the dense repair."""
    cand_idx, row_idx = (~done).nonzero(as_tuple=True)
    found, flagged = patterns.search(cand_idx.numpy(), row_idx.numpy())
    out[cand_idx, row_idx] = torch.from_numpy(found)
    tied[cand_idx, row_idx] = torch.from_numpy(flagged)
    return out, tied


def _dense_heavy(
    base: Tensor, candidates: Tensor, u: Tensor, out: Tensor, tied: Tensor, done: Tensor, max_elements: int
) -> None:
    """Candidates where many rows are ties (discrete data): recompute them densely, in place."""
    heavy = tied.sum(dim=1) > DENSE_SWITCH * candidates.shape[0]
    if bool(heavy.any()):
        cols = heavy.nonzero(as_tuple=True)[0]
        out[cols] = _dense(base, candidates[:, cols], u, max_elements)
        tied[cols] = False
        done[cols] = True


def resolve_flagged(
    base: Tensor,
    candidates: Tensor,
    u: Tensor,
    out: Tensor,
    bad: Tensor,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> None:
    """Recompute flagged answers (ties, uncertified rows) by the dense rule, in place: whole
    candidates when many of their rows are flagged. ``out``/``bad`` are ``(c, n)``."""
    n, c = candidates.shape
    if not bool(bad.any()):
        return
    _dense_heavy(base, candidates, u, out, bad, torch.zeros_like(bad), max_elements)
    # a row flagged for many candidates: every candidate at once, its base distances computed once
    # (elementwise passes over its n distances: s for the base, 3 per candidate; one at a time,
    # s + 3 per flagged candidate)
    s = base.shape[1]
    many = (bad.sum(dim=0) * (s + 3) > s + 3 * c).nonzero(as_tuple=True)[0]
    if many.numel():
        out[:, many] = _dense(base, candidates, u, max_elements, asked=many)
        bad[:, many] = False
    cand_idx, row_idx = bad.nonzero(as_tuple=True)
    for block in _blocks(cand_idx.shape[0], max(1, max_elements // n)):
        cj, ri = cand_idx[block], row_idx[block]
        dist = (candidates[ri, cj][:, None] - candidates[:, cj].T).square_().add_(_base_block(base, ri))
        out[cj, ri] = _pick_index_order(dist, u[ri])[0]


# --------------------------------------------------------------------------- helpers


def _base_block(base: Tensor, rows: Tensor | slice) -> Tensor:
    """Base-space squared distances of ``rows`` to all rows, with each row's own entry at +inf."""
    n = base.shape[0]
    q = base[rows]
    dist = squared_distances(q, base)
    ids = torch.arange(n, device=base.device)[rows]
    dist[torch.arange(dist.shape[0], device=base.device), ids] = math.inf
    return dist


def _base_tree_used(base: Tensor) -> bool:
    return base.device.type == "cpu" and base.shape[0] >= TREE_SHORTLIST_ROWS


def _base_tree(base: Tensor) -> cKDTree | None:
    """A k-d tree on the base columns, on a CPU from :data:`TREE_SHORTLIST_ROWS` rows (else None)."""
    if not _base_tree_used(base):
        return None
    points = np.ascontiguousarray(base.detach().numpy())
    return cKDTree(
        points, leafsize=kdtree_module.LEAF_SIZE, balanced_tree=False, compact_nodes=False, copy_data=False
    )


def _tree_shortlist(
    tree: cKDTree, base: Tensor, rows: slice | np.ndarray, k: int
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`_shortlist` from a k-d tree: no ``n x n`` base block, same certificate.

    The tree returns ``k + 2`` rows (the row itself among them unless it has many duplicates);
    the ``k`` nearest other rows form the list, their base distances are recomputed in this
    module's column order (the floats of every other path), and the threshold is the tree's
    last returned distance, shrunk by a margin far above rounding: every row off the list is
    at least that far.
    """
    n = base.shape[0]
    k = min(k, n - 2)
    points = base.detach().numpy()
    ids = np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows
    tree_d, idx = tree.query(points[ids], k=k + 2, workers=kdtree_module.query_workers())
    is_self = idx == ids[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k + 1)  # self, else the farthest
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(idx.shape[0]), drop] = False
    near_i = idx[keep].reshape(idx.shape[0], k + 1)[:, :k]
    threshold = tree_d[:, -1] ** 2 * (1.0 - kdtree_module.MARGIN)
    near = torch.from_numpy(np.ascontiguousarray(near_i))
    q = base[torch.from_numpy(ids)]
    near_d = (q[:, None, 0] - base[near, 0]).square_()
    for col in range(1, base.shape[1]):
        near_d.add_((q[:, None, col] - base[near, col]).square_())
    return near_d.contiguous(), near, torch.from_numpy(threshold)


def _shortlist(dbase: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """The ``k`` smallest base distances per row, their rows, and the ``(k+1)``-th (the certificate)."""
    n = dbase.shape[1]
    k = min(k, n - 1)
    if k + 1 <= n - 1:
        near_d, near_i = torch.topk(dbase, k + 1, dim=1, largest=False, sorted=True)
        return near_d[:, :k].contiguous(), near_i[:, :k].contiguous(), near_d[:, k].contiguous()
    near_d, near_i = torch.topk(dbase, k, dim=1, largest=False, sorted=True)
    threshold = torch.full((dbase.shape[0],), math.inf, dtype=dbase.dtype, device=dbase.device)
    return near_d, near_i, threshold  # every other row is on the list: nothing lies beyond it


def _pick_index_order(dist: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """Argmin over the last axis; among exact ties the ``floor(u * t)``-th in index order.

    Returns the picks and the minimum distances. ``dist`` (contiguous) is scratch: it is
    modified in place. ``u`` broadcasts to its leading shape.
    """
    n = dist.shape[-1]
    best, pick = dist.min(dim=-1)  # the first minimum
    dist.scatter_(-1, pick[..., None], math.inf)
    tied = dist.amin(dim=-1) == best
    if bool(tied.any()):
        flat_dist, flat_best, flat_pick = dist.reshape(-1, n), best.reshape(-1), pick.reshape(-1)
        flat_tied = tied.reshape(-1)
        flat_u = u.expand_as(best).reshape(-1)
        lead = flat_tied.nonzero(as_tuple=True)[0]
        rows = flat_dist if lead.numel() == flat_tied.numel() else flat_dist[lead]  # no copy when all tie
        eq = rows == flat_best[lead, None]
        eq[torch.arange(lead.numel(), device=eq.device), flat_pick[lead]] = True  # the first minimum again
        cum = eq.cumsum(dim=-1, dtype=torch.int32)  # non-decreasing: position of the r-th tie by bisection
        rank = _tie_rank(flat_u[lead], cum[:, -1].to(torch.long))
        flat_pick[lead] = torch.searchsorted(cum, (rank + 1).to(torch.int32)[:, None])[:, 0]
        pick = flat_pick.reshape(best.shape)
    return pick, best


def _work_block(t: Tensor, max_elements: int, cpu_block: int = CPU_WORK_BLOCK) -> int:
    """Elements per block: cache-sized on CPU, ``max_elements`` on a GPU (fewer, larger launches)."""
    return max_elements if t.device.type == "cuda" else min(max_elements, cpu_block)


def _tie_rank(u: Tensor, counts: Tensor) -> Tensor:
    rank = torch.floor(u * counts.to(u.dtype)).to(torch.long)
    return torch.minimum(rank, counts - 1)


def _pruning_width(n: int, base_dims: int) -> int:
    """First shortlist size: ``3 n^(1/(s+1))``, a few times the base-space population of a neighbour ball.

    In ``s + 1`` dimensions the nearest neighbour lies at distance ``~ n^(-1/(s+1))``, and a base
    ball of that radius holds ``~ n^(1/(s+1))`` rows. On Gaussian data (n = 1000 to 5000) the
    first pass then certifies about 95% of rows; the widening passes catch the rest. The factor
    was tuned on this machine (2-core EPYC) between 2 and 6; the times are flat around 3.
    """
    factor = 3.0
    return int(min(n - 1, max(8, math.ceil(factor * n ** (1.0 / (base_dims + 1))))))


def _blocks(total: int, size: int) -> Iterator[slice]:
    size = max(1, int(size))
    for start in range(0, total, size):
        yield slice(start, min(total, start + size))


def _check_points(t: Tensor, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(t).__name__}")
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows x columns), got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {t.dtype}")
