"""Exact batched nearest neighbours: every strategy returns the same indices, ties uniform."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnbench.dependence import knn


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
        if strategy == "sort" and base_dims > 0:
            continue  # sorting answers one dimension only
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
