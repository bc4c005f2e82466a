"""Exact batched nearest neighbours: every strategy returns the same indices, ties uniform."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnbench.dependence import knn
from unlearnbench.dependence.clusters import BaseClusters, column_clusters, looks_clustered
from unlearnbench.dependence.grid import GRID_MAX_BASE
from unlearnbench.dependence.patterns import LevelPatterns


def _reference(base: torch.Tensor, cands: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Brute force, one candidate at a time, straight from the definition (numpy, no shortcuts)."""
    n = base.shape[0]
    out = np.empty((cands.shape[1], n), dtype=np.int64)
    for j in range(cands.shape[1]):
        pts = torch.cat([base, cands[:, j : j + 1]], dim=1).numpy()
        d = np.zeros((n, n))
        for col in range(pts.shape[1]):  # same column order as the library: the same floats
            d += (pts[:, None, col] - pts[None, :, col]) ** 2
        np.fill_diagonal(d, np.inf)
        for i in range(n):
            tied = np.flatnonzero(d[i] == d[i].min())
            out[j, i] = tied[min(int(np.floor(u[i].item() * tied.size)), tied.size - 1)]
    return torch.from_numpy(out)


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("base_dims", [0, 1, 2, 4])
def test_batched_equals_brute_force(discrete: bool, base_dims: int) -> None:
    rng = np.random.default_rng(base_dims)
    n = 120
    base = torch.tensor(rng.normal(size=(n, base_dims)))
    cands = torch.tensor(rng.normal(size=(n, 7)))
    if discrete:  # heavy ties and duplicate points
        base, cands = base.round(), (cands > 0).double()
    u = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(base_dims))
    expected = _reference(base, cands, u)
    for strategy in knn.STRATEGIES:
        if strategy == "sort" and base_dims > 0 or strategy == "grid" and base_dims > GRID_MAX_BASE:
            continue  # sorting answers one dimension only, the grid a few
        if strategy == "clustered" and base_dims > 0 and BaseClusters.of(base) is None:
            continue  # a base column in too many clusters (checked below, where it applies)
        # a tiny block budget forces every chunking loop to run many times
        got = knn.candidate_nearest_neighbours(base, cands, u, strategy=strategy, max_elements=2 * n)
        assert torch.equal(got, expected), strategy


def test_pruned_paths_agree_at_larger_n() -> None:
    """Enough rows that the sorted window and the widening passes really certify and prune."""
    rng = np.random.default_rng(7)
    n = 700
    x = torch.tensor(rng.normal(size=(n, 12)))
    u = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for s in (1, 2, 3):
        fast = knn.candidate_nearest_neighbours(x[:, :s], x[:, s:], u)
        dense = knn.candidate_nearest_neighbours(x[:, :s], x[:, s:], u, strategy="dense")
        assert torch.equal(fast, dense)


def test_nearest_neighbour_is_never_self_and_duplicates_pair_up() -> None:
    pts = torch.tensor([[0.0, 0.0], [5.0, 5.0], [0.0, 0.0], [9.0, 1.0], [9.0, 1.2]], dtype=torch.float64)
    nn = knn.nearest_neighbours(pts, torch.full((5,), 0.5, dtype=torch.float64))
    assert nn.tolist()[0] == 2 and nn.tolist()[2] == 0  # exact duplicates are each other's neighbour
    assert nn.tolist()[3] == 4 and nn.tolist()[4] == 3
    assert all(i != j for i, j in enumerate(nn.tolist()))


def test_ties_are_broken_uniformly_in_index_order() -> None:
    # row 0 sits at the centre of a square: rows 1..4 are all at distance 1
    pts = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], dtype=torch.float64)
    picks = []
    for value in np.linspace(0.0, 0.999, 400):
        u = torch.full((5,), float(value), dtype=torch.float64)
        picks.append(int(knn.nearest_neighbours(pts, u)[0]))
    counts = np.bincount(picks, minlength=5)
    assert counts[0] == 0
    assert counts[1:].tolist() == [100, 100, 100, 100]  # floor(u * 4) over an even grid of u
    # and u selects in index order: small u -> lowest index
    assert int(knn.nearest_neighbours(pts, torch.zeros(5, dtype=torch.float64))[0]) == 1


def test_squared_distances_accumulate_in_column_order() -> None:
    a = torch.tensor([[0.1, 0.7, 0.3]], dtype=torch.float64)
    b = torch.tensor([[0.4, 0.2, 0.9], [0.1, 0.7, 0.3]], dtype=torch.float64)
    d = knn.squared_distances(a, b)
    manual = ((0.1 - 0.4) ** 2 + (0.7 - 0.2) ** 2) + (0.3 - 0.9) ** 2
    assert d[0, 0].item() == manual and d[0, 1].item() == 0.0


def test_bad_arguments_are_named() -> None:
    x = torch.zeros(4, 2, dtype=torch.float64)
    u = torch.zeros(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="strategy"):
        knn.candidate_nearest_neighbours(x, x, u, strategy="approximate")
    with pytest.raises(ValueError, match="u must have shape"):
        knn.candidate_nearest_neighbours(x, x, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="rows"):
        knn.candidate_nearest_neighbours(x, x[:3], u)
    with pytest.raises(ValueError, match="floating"):
        knn.nearest_neighbours(torch.zeros(4, 2, dtype=torch.long), u)
    with pytest.raises(ValueError, match="no columns"):
        knn.nearest_neighbours(torch.zeros(4, 0, dtype=torch.float64), u)
    with pytest.raises(ValueError, match="at least 2 rows"):
        knn.nearest_neighbours(torch.zeros(1, 2, dtype=torch.float64), u[:1])
    with pytest.raises(ValueError, match="dtype and device"):
        knn.candidate_nearest_neighbours(x, x.float(), u)


# --------------------------------------------------------------------------- the paths by shape


def _u(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("base_dims", [0, 1, 2, 3])
def test_grid_path_equals_brute_force_with_duplicates_and_equidistant_rows(base_dims: int) -> None:
    """Continuous rows plus exact duplicates and points on a lattice (exact distance ties)."""
    rng = np.random.default_rng(20 + base_dims)
    n = 150
    pts = rng.normal(size=(n, base_dims + 4))
    pts[100:120] = np.round(pts[100:120] * 2) / 2  # a coarse lattice: equidistant neighbours
    pts[120:130] = pts[:10]  # exact duplicates
    base, cands = torch.tensor(pts[:, :base_dims]), torch.tensor(pts[:, base_dims:])
    u = _u(n, base_dims)
    expected = _reference(base, cands, u)
    got = knn.candidate_nearest_neighbours(base, cands, u, strategy="grid")
    assert torch.equal(got, expected)


@pytest.mark.parametrize("base_dims", [0, 1, 3])
def test_group_path_equals_brute_force_with_unique_rows_and_tied_patterns(base_dims: int) -> None:
    """Discrete data with rows whose pattern occurs once and whose nearest patterns tie."""
    rng = np.random.default_rng(40 + base_dims)
    n = 160
    pts = rng.integers(0, 3, size=(n, base_dims + 5)).astype(float)
    pts[:12] = rng.integers(0, 30, size=(12, base_dims + 5))  # rare values: patterns seen once
    base, cands = torch.tensor(pts[:, :base_dims]), torch.tensor(pts[:, base_dims:])
    u = _u(n, 9)
    plan = knn.choose_paths(base, cands, "groups")
    assert set(plan) == {"groups"}
    expected = _reference(base, cands, u)
    got = knn.candidate_nearest_neighbours(base, cands, u, strategy="groups", max_elements=2 * n)
    assert torch.equal(got, expected)
    # some rows really are alone in their pattern, so the pattern-level search ran
    alone = 0
    for j in range(cands.shape[1]):
        key = [tuple(r) for r in pts[:, list(range(base_dims)) + [base_dims + j]]]
        alone += sum(key.count(k) == 1 for k in key)
    assert alone >= 10


def test_auto_chooses_the_path_by_the_shape_of_the_data() -> None:
    rng = np.random.default_rng(3)
    big, wide = 2000, GRID_MAX_BASE + 2
    cont = torch.tensor(rng.normal(size=(big, wide)))
    binary = torch.tensor((rng.random(size=(big, 4)) < 0.3).astype(float))
    assert set(knn.choose_paths(cont[:, :0], cont)) == {"grid"}  # first step, continuous, CPU
    assert set(knn.choose_paths(cont[:, :GRID_MAX_BASE], cont[:, -1:])) == {"grid"}  # a few base columns
    assert set(knn.choose_paths(cont[:, :-1], cont[:, -1:])) == {"pruned"}  # more: base tree + shortlists
    assert set(knn.choose_paths(binary[:, :0], binary)) == {"groups"}  # ties: grouped
    assert set(knn.choose_paths(binary[:, :2], binary[:, 2:])) == {"groups"}
    mixed = torch.cat([binary[:, :1], cont[:, :1]], dim=1)  # one discrete, one continuous candidate
    assert knn.choose_paths(binary[:, :0], mixed).keys() == {"groups", "grid"}
    u = _u(big, 1)
    assert torch.equal(
        knn.candidate_nearest_neighbours(binary[:, :1], mixed, u),
        knn.candidate_nearest_neighbours(binary[:, :1], mixed, u, strategy="dense"),
    )
    with pytest.raises(ValueError, match="sort"):
        knn.choose_paths(cont[:, :1], cont, "sort")
    with pytest.raises(ValueError, match="grid"):
        knn.choose_paths(cont[:, :-1], cont, "grid")


def test_tie_breaking_distribution_is_unchanged_over_many_seeds() -> None:
    """Over 3000 seeds the grouped path's picks are uniform over each tie set, like brute force.

    Data: 10 rows in 3 duplicate groups (sizes 4, 3, 2) and one row alone whose nearest
    patterns tie. For every row, the counts of each neighbour over the seeds must equal the
    brute-force path's exactly (same u, same rule) and pass a chi-square test of uniformity
    over its tie set at the 0.1% level (critical values fixed before looking at the data).
    """
    pts = torch.tensor([[0.0], [1.0], [0.0], [2.0], [0.0], [1.0], [0.0], [2.0], [1.0], [1.5]])
    pts = torch.cat([pts, torch.zeros(10, 1)], dim=1)  # base column: one group everywhere
    base, cand = pts[:, 1:], pts[:, :1]
    ties = {
        0: [2, 4, 6],
        2: [0, 4, 6],
        4: [0, 2, 6],
        6: [0, 2, 4],
        1: [5, 8],
        5: [1, 8],
        8: [1, 5],
        3: [7],
        7: [3],
        9: [1, 3, 5, 7, 8],  # 1.5 is alone: 1.0 (rows 1, 5, 8) and 2.0 (rows 3, 7) are equally near
    }
    critical = {1: 10.83, 2: 13.82, 4: 18.47}  # chi-square 0.999 quantiles, df = size - 1
    seeds = 3000
    counts = {i: np.zeros(10, dtype=int) for i in ties}
    for seed in range(seeds):
        u = _u(10, seed)
        grouped = knn.candidate_nearest_neighbours(base, cand, u, strategy="groups")[0]
        dense = knn.candidate_nearest_neighbours(base, cand, u, strategy="dense")[0]
        assert torch.equal(grouped, dense)
        for i in ties:
            counts[i][int(grouped[i])] += 1
    for i, tied in ties.items():
        assert counts[i].sum() == seeds and counts[i][tied].sum() == seeds, i  # only tied rows are drawn
        if len(tied) > 1:
            expected = seeds / len(tied)
            chi2 = float(((counts[i][tied] - expected) ** 2 / expected).sum())
            assert chi2 < critical[len(tied) - 1], (i, counts[i][tied])


@pytest.mark.parametrize("base_dims", [2, 3])
def test_tree_shortlists_and_per_candidate_trees_equal_dense_on_many_rows(base_dims: int) -> None:
    """From TREE_SHORTLIST_ROWS rows the brute force shortlists from a base k-d tree: still exact."""
    rng = np.random.default_rng(50 + base_dims)
    n = knn.TREE_SHORTLIST_ROWS + 100
    pts = rng.normal(size=(n, base_dims + 3))
    pts[:40] = np.round(pts[:40] * 2) / 2  # lattice points: exact ties in every space
    pts[40:60] = pts[60:80]  # duplicates
    base, cands = torch.tensor(pts[:, :base_dims]), torch.tensor(pts[:, base_dims:])
    u = _u(n, base_dims)
    dense = knn.candidate_nearest_neighbours(base, cands, u, strategy="dense")
    assert torch.equal(knn.candidate_nearest_neighbours(base, cands, u, strategy="pruned"), dense)
    assert torch.equal(knn.candidate_nearest_neighbours(base, cands, u), dense)


def _jittered_binary(rng: np.random.Generator, n: int, columns: int) -> np.ndarray:
    """L-FOCI's inputs: binary columns with rare and common levels, standardised, plus 1e-3 noise."""
    share = np.linspace(0.03, 0.5, columns)
    binary = (rng.random(size=(n, columns)) < share).astype(float)
    scaled = (binary - binary.mean(axis=0)) / binary.std(axis=0, ddof=1)
    return scaled + 1e-3 * rng.normal(size=scaled.shape)


def test_looks_clustered_tells_jittered_discrete_columns_from_continuous_ones() -> None:
    rng = np.random.default_rng(8)
    assert all(looks_clustered(col) for col in _jittered_binary(rng, 500, 6).T)
    three_levels = rng.integers(0, 3, size=500) + 1e-4 * rng.normal(size=500)
    assert looks_clustered(three_levels)
    assert not looks_clustered(rng.normal(size=500))
    assert not looks_clustered(rng.standard_t(2, size=500))  # heavy tails: wide gaps, yet continuous
    assert not looks_clustered(np.full(500, 2.0))  # constant: nothing to tell
    assert not looks_clustered(rng.integers(0, 40, size=500) + 1e-4 * rng.normal(size=500))  # too many levels


def test_clustered_data_leave_the_shared_grid_for_the_pruned_path() -> None:
    """On jittered binary data the shared base grid scans far for rare levels (see grid_serves)."""
    rng = np.random.default_rng(9)
    pts = torch.tensor(_jittered_binary(rng, 2000, GRID_MAX_BASE + 2))
    cands = pts[:, -2:]
    assert set(knn.choose_paths(pts[:, :1], cands)) == {"grid"}  # one base column: the candidate grid
    for s in range(2, GRID_MAX_BASE + 1):
        assert set(knn.choose_paths(pts[:, :s], cands)) == {"pruned"}
    gaussian = torch.tensor(rng.normal(size=(2000, 3)))
    assert set(knn.choose_paths(gaussian[:, :2], gaussian[:, 2:])) == {"grid"}


@pytest.mark.parametrize("base_dims", [2, 4])
def test_pruned_path_on_clustered_data_equals_dense(base_dims: int) -> None:
    rng = np.random.default_rng(60 + base_dims)
    n = knn.TREE_SHORTLIST_ROWS + 200  # the k-d tree shortlists and per-candidate trees
    pts = _jittered_binary(rng, n, base_dims + 4)
    pts[100:110] = pts[200:210]  # duplicates: exact ties
    base, cands = torch.tensor(pts[:, :base_dims]), torch.tensor(pts[:, base_dims:])
    u = _u(n, base_dims)
    dense = knn.candidate_nearest_neighbours(base, cands, u, strategy="dense")
    assert set(knn.choose_paths(base, cands)) == {"pruned"}
    assert torch.equal(knn.candidate_nearest_neighbours(base, cands, u), dense)
    assert torch.equal(knn.candidate_nearest_neighbours(base, cands, u, strategy="grid"), dense)


def test_pruned_path_on_jittered_binary_data_searches_small_groups_by_level_patterns(monkeypatch) -> None:
    """Rows of small base groups go to patterns.py (their subgroup, or the level patterns when
    alone there), the open rows of large ones to a k-d tree per candidate: the dense answers."""
    rng = np.random.default_rng(64)
    n = knn.TREE_SHORTLIST_ROWS + 500
    pts = _jittered_binary(rng, n, 10)
    pts[100:110] = pts[200:210]  # duplicates: exact ties
    base, cands = torch.tensor(pts[:, :6]), torch.tensor(pts[:, 6:])
    u = _u(n, 6)
    dense = knn.candidate_nearest_neighbours(base, cands, u, strategy="dense")
    monkeypatch.setattr(knn, "PATTERN_SCAN_ROWS", 150)  # some groups above it: both branches
    sizes = LevelPatterns.of(pts[:, :6], pts[:, 6:]).group_sizes()
    assert (sizes > 150).any() and (sizes == 1).any()
    searched: list[int] = []
    real = LevelPatterns.search

    def spy(self, cand_idx, row_idx):
        searched.append(cand_idx.size)
        return real(self, cand_idx, row_idx)

    monkeypatch.setattr(LevelPatterns, "search", spy)
    assert torch.equal(knn.candidate_nearest_neighbours(base, cands, u), dense)
    assert searched and searched[0] > 0


def test_column_clusters_cut_at_the_wide_gaps() -> None:
    rng = np.random.default_rng(13)
    column = np.array([0.0, 0.0, 1.0, 3.0] * 50) + 1e-3 * rng.normal(size=200)
    codes, gap = column_clusters(torch.tensor(column))
    assert codes.unique().tolist() == [0, 1, 2]
    assert torch.equal(codes, torch.tensor(np.round(column).astype(np.int64)).clamp(max=2))
    low = column[np.round(column) == 0].max()
    assert gap == column[np.round(column) == 1].min() - low  # the narrowest gap, exactly
    assert column_clusters(torch.full((9,), 2.0))[1] == float("inf")  # constant: one cluster
    assert column_clusters(torch.tensor(rng.integers(0, 40, size=300) + 1e-4 * rng.normal(size=300))) is None


@pytest.mark.parametrize("base_dims", [1, 3, 6])
def test_clustered_path_equals_dense_whatever_the_clusters(base_dims: int) -> None:
    """The search within base groups is exact by its bound, on the data it is for (jittered binary
    with rare levels, duplicates, rows alone in their group) and on data it is not for (Gaussian
    columns cut wherever their gaps happen to be wide): only the number of flagged rows differs."""
    rng = np.random.default_rng(70 + base_dims)
    n = 900
    jittered = _jittered_binary(rng, n, base_dims + 5)
    jittered[50:60] = jittered[500:510]  # exact duplicates: ties within a group
    jittered[:, 0] = np.where(jittered[:, 0] > 0, 0.5 + 1e-3 * rng.normal(size=n), jittered[:, 0])  # 3 levels
    gaussian = rng.normal(size=(n, base_dims + 3))
    for pts in (jittered, gaussian):
        base, cands = torch.tensor(pts[:, :base_dims]), torch.tensor(pts[:, base_dims:])
        clusters = BaseClusters.of(base)
        if clusters is None:
            continue
        u = _u(n, base_dims)
        dense = knn.candidate_nearest_neighbours(base, cands, u, strategy="dense")
        for budget in (knn.DEFAULT_MAX_ELEMENTS, 3 * n):  # a small budget splits groups into row blocks
            got = knn.candidate_nearest_neighbours(base, cands, u, strategy="clustered", max_elements=budget)
            assert torch.equal(got, dense)
    found, flagged = knn._clustered(
        torch.tensor(jittered[:, :base_dims]),
        torch.tensor(jittered[:, base_dims:]),
        _u(n, 0),
        knn.DEFAULT_MAX_ELEMENTS,
        BaseClusters.of(torch.tensor(jittered[:, :base_dims])),
    )
    assert int(flagged.sum()) < flagged.numel() // 10  # the bound certifies most rows
    if base_dims == 6:  # small groups: rows alone in their group, or alone with their level
        assert int(flagged.sum()) > 0
        assert BaseClusters.of(torch.tensor(jittered[:, :base_dims])).alone().numel() > 0
    many_levels = torch.tensor(rng.integers(0, 40, size=(300, 2)) + 1e-4 * rng.normal(size=(300, 2)))
    with pytest.raises(ValueError, match="clusters"):
        knn.choose_paths(many_levels[:, :1], many_levels[:, 1:], "clustered")


@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("base_dims", [0, 1, 3])
def test_asked_rows_get_the_full_answers_and_the_others_themselves(clustered: bool, base_dims: int) -> None:
    """Every path: the asked rows' answers are those of a search over all rows; a row not asked
    is its own answer (what FOCI's rows of least rank need)."""
    rng = np.random.default_rng(70 + base_dims)
    n = knn.TREE_SHORTLIST_ROWS + 300  # k-d tree shortlists, and on clustered data the pattern search
    pts = _jittered_binary(rng, n, base_dims + 4) if clustered else rng.normal(size=(n, base_dims + 4))
    base, cands = torch.tensor(pts[:, :base_dims]), torch.tensor(pts[:, base_dims:])
    u = _u(n, base_dims)
    asked = torch.from_numpy(np.flatnonzero(rng.random(n) < 0.3))
    skipped = torch.ones(n, dtype=torch.bool)
    skipped[asked] = False
    full = knn.candidate_nearest_neighbours(base, cands, u)
    for strategy in ("auto", "dense", "pruned"):
        got = knn.candidate_nearest_neighbours(base, cands, u, asked=asked, strategy=strategy)
        assert torch.equal(got[:, asked], full[:, asked]), strategy
        assert torch.equal(got[:, skipped], torch.arange(n)[skipped].expand(cands.shape[1], -1)), strategy


def test_the_pruned_path_searches_only_the_asked_rows(monkeypatch) -> None:
    """The base shortlists and the pattern search see the asked rows only."""
    rng = np.random.default_rng(75)
    n = knn.TREE_SHORTLIST_ROWS + 500
    pts = _jittered_binary(rng, n, 10)
    base, cands = torch.tensor(pts[:, :6]), torch.tensor(pts[:, 6:])
    asked = torch.from_numpy(np.flatnonzero(rng.random(n) < 0.25))
    seen: set[int] = set()
    real_block, real_search = knn._shortlist_block, LevelPatterns.search

    def block_spy(base, candidates, k, max_elements, asked=None):
        seen.update(range(base.shape[0]) if asked is None else asked.tolist())
        return real_block(base, candidates, k, max_elements, asked)

    def search_spy(self, cand_idx, row_idx):
        seen.update(row_idx.tolist())
        return real_search(self, cand_idx, row_idx)

    monkeypatch.setattr(knn, "_shortlist_block", block_spy)
    monkeypatch.setattr(LevelPatterns, "search", search_spy)
    knn.candidate_nearest_neighbours(base, cands, _u(n, 6), asked=asked)
    assert seen and seen <= set(asked.tolist())


def test_asked_rows_are_checked() -> None:
    x = torch.tensor(np.random.default_rng(76).normal(size=(20, 3)))
    u = _u(20, 0)
    for bad in (torch.tensor([3, 1]), torch.tensor([1, 1]), torch.tensor([0, 20]), torch.tensor([-1, 2])):
        with pytest.raises(ValueError, match="asked"):
            knn.candidate_nearest_neighbours(x[:, :1], x[:, 1:], u, asked=bad)
    with pytest.raises(ValueError, match="asked"):
        knn.candidate_nearest_neighbours(x[:, :1], x[:, 1:], u, asked=torch.tensor([0.0, 1.0]))
