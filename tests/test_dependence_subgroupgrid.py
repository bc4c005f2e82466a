"""The grid per subgroup (subgroupgrid.py) against every pairwise distance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from jittered_data import dense_answers, jittered_table

from unlearnbench.dependence import knn, subgroupgrid
from unlearnbench.dependence.patterns import LevelPatterns


@pytest.mark.parametrize(("s", "cell_rows"), [(1, 2.0), (2, 8.0), (4, 1.0), (5, 8.0)])
def test_certified_answers_are_the_dense_ones(monkeypatch, s: int, cell_rows: float) -> None:
    """Every certified pair is the dense answer, ties are never certified, and almost every
    other pair is certified (the rest: rows alone in their subgroup)."""
    monkeypatch.setattr(subgroupgrid, "CELL_ROWS", cell_rows)
    x = jittered_table(2000, s + 6, s)
    patterns = LevelPatterns.of(x[:, :s], x[:, s:])
    assert patterns is not None
    rows = np.arange(1, 2000, 3)  # some rows, in increasing order
    found, certified = subgroupgrid.nearest_by_subgroup_grids(patterns, rows)
    dense, tied = dense_answers(x, s)
    assert np.array_equal(found[certified], dense[:, rows][certified])
    assert not (certified & tied[:, rows]).any()
    assert certified.mean() > 0.9


def test_a_row_alone_in_its_subgroup_is_not_certified() -> None:
    """Row 0 is the only row at the upper level of the candidate in its base group: its nearest
    row is in another subgroup, which the grid does not search."""
    rng = np.random.default_rng(0)
    base = np.column_stack([np.repeat([0.0, 1.0], 50) + 1e-3 * rng.normal(size=100), np.zeros(100)])
    cand = 1e-3 * rng.normal(size=(100, 1))
    cand[0, 0] += 1.0
    cand[60, 0] += 1.0  # the other base group has an upper row too, so the column has two levels
    patterns = LevelPatterns.of(base, cand)
    assert patterns is not None
    found, certified = subgroupgrid.nearest_by_subgroup_grids(patterns, np.array([0, 1]))
    assert not certified[0, 0] and certified[0, 1]


def test_a_tie_in_the_next_slab_is_seen(monkeypatch) -> None:
    """Row 0 (candidate value 0) has two rows at exactly 0.001 in the candidate, one on each side,
    and the base columns are equal for all of them. Row 0 is the last of the lower slab (five rows
    below it), so row 2 is the first of the upper one, at a bound equal to the best distance: the
    pruning must still scan it and report the tie."""
    monkeypatch.setattr(subgroupgrid, "CELL_ROWS", 1.0)
    values = np.array([0.0, -0.001, 0.001, -0.002, -0.003, -0.004, -0.005, 0.004, 0.005, 0.006])
    cand = np.concatenate([values, [1.0, 1.001]])[:, None]  # two upper rows: a second level
    base = np.column_stack([np.zeros(12), np.concatenate([np.zeros(10), [5.0, 5.0]])])
    patterns = LevelPatterns.of(base, cand)
    assert patterns is not None
    found, certified = subgroupgrid.nearest_by_subgroup_grids(patterns, np.array([0]))
    assert not certified[0, 0]
    assert found[0, 0] in (1, 2)


def test_fine_slabs_follow_the_values_within_a_column_and_level() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(3, 5000)) * np.array([[1.0], [1e-3], [10.0]])
    levels = (rng.random(size=(3, 5000)) < 0.3).astype(np.uint8)
    values[levels == 1] += 7.0
    fine = subgroupgrid.fine_slabs(values, levels)
    assert fine.min() >= 0 and fine.max() < subgroupgrid.FINE
    for col in range(3):
        for level in (0, 1):
            at = np.flatnonzero(levels[col] == level)
            order = np.argsort(values[col, at])
            assert (np.diff(fine[col, at][order]) >= 0).all()
            quartile = fine[col, at] * 4 // subgroupgrid.FINE  # balanced: about a quarter each
            assert np.bincount(quartile, minlength=4).min() > 0.2 * at.size


def test_knn_takes_the_grid_for_few_base_columns(monkeypatch) -> None:
    """knn's jittered-binary path with up to SUBGROUP_GRID_MAX_BASE base columns: the grid, with
    the dense answers for the asked rows."""
    n = knn.TREE_SHORTLIST_ROWS + 500
    x = jittered_table(n, 9, 4)
    s = knn.SUBGROUP_GRID_MAX_BASE
    base, cands = torch.tensor(x[:, :s]), torch.tensor(x[:, s:])
    u = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    dense = knn.candidate_nearest_neighbours(base, cands, u, strategy="dense")
    calls: list[int] = []
    real = subgroupgrid.nearest_by_subgroup_grids

    def spy(patterns, rows):
        calls.append(rows.size)
        return real(patterns, rows)

    monkeypatch.setattr(subgroupgrid, "nearest_by_subgroup_grids", spy)
    asked = torch.arange(0, n, 2)
    got = knn.candidate_nearest_neighbours(base, cands, u, asked=asked)
    assert len(calls) == 1 and 0 < calls[0] <= asked.numel()  # rows alone in their group: not
    assert torch.equal(got[:, asked], dense[:, asked])
    wider = knn.candidate_nearest_neighbours(torch.tensor(x[:, : s + 1]), cands[:, 1:], u)
    assert len(calls) == 1  # one base column more: not the grid
    dense_wider = knn.candidate_nearest_neighbours(
        torch.tensor(x[:, : s + 1]), cands[:, 1:], u, strategy="dense"
    )
    assert torch.equal(wider, dense_wider)


def test_an_empty_slab_does_not_end_the_search(monkeypatch) -> None:
    """Row 0 (candidate value 0) has row 1 at -0.2 in its own slab and its nearest row, row 2, at
    0.13, beyond four slabs that hold none of its subgroup (the column's quantiles put them
    between 0.01 and 0.12, where only rows of the other base group lie). An empty slab must bound
    with the nonempty slab beyond it, not end the search on that side (which would certify row 1)."""
    monkeypatch.setattr(subgroupgrid, "CELL_ROWS", 1.0)
    rng = np.random.default_rng(7)
    cand = np.concatenate([[0.0, -0.2, 0.13], np.full(33, 5.0) + 1e-3 * np.arange(33)])
    group = np.column_stack([np.zeros(cand.size), cand])  # one base group, one base value
    quantiles = np.column_stack([100 + rng.random(400), 0.01 + 0.11 * rng.random(400)])
    second_level = np.column_stack([rng.random(400), 100 + rng.random(400)])
    x = np.vstack([group, quantiles, second_level])
    patterns = LevelPatterns.of(x[:, :1], x[:, 1:])
    assert patterns is not None
    found, certified = subgroupgrid.nearest_by_subgroup_grids(patterns, np.array([0]))
    assert certified[0, 0] and found[0, 0] == 2
