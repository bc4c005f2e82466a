"""FOCI / L-FOCI: batched equals one-at-a-time, the stopping rule, selections, input handling."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from unlearnbench.dependence import FociResult, foci, foci_reference, lfoci, lfoci_reference
from unlearnbench.dependence.foci import neighbour_rank_sums, standardize_columns


@pytest.fixture(scope="module")
def product_data() -> tuple[np.ndarray, np.ndarray]:
    """The example of the R package's help page: y = x1 x10 + x20^2 (0-based columns 0, 9, 19)."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(600, 25))
    return X[:, 0] * X[:, 9] + X[:, 19] ** 2 + 0.1 * rng.normal(size=600), X


def test_foci_finds_the_signal_columns(product_data) -> None:
    y, X = product_data
    result = foci(y, X, seed=0)
    assert set(result.selected[:3]) == {0, 9, 19}
    assert len(result.statistics) == len(result.selected)
    assert all(
        b > a for a, b in zip(result.statistics, result.statistics[1:], strict=False)
    )  # Q must increase


@pytest.mark.parametrize("discrete", [False, True])
def test_batched_equals_one_at_a_time(discrete: bool) -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 12))
    if discrete:
        X = rng.integers(0, 3, size=(300, 12)).astype(float)
    y = X[:, 2] + X[:, 7] * X[:, 5] + (0 if discrete else 0.2 * rng.normal(size=300))
    for fast, slow in ((foci, foci_reference), (lfoci, lfoci_reference)):
        a, b = fast(y, X, seed=4), slow(y, X, seed=4)
        assert a.selected == b.selected and a.statistics == b.statistics
        assert len(a.selected) >= 2


def test_lfoci_on_binary_data_finds_the_parents() -> None:
    rng = np.random.default_rng(5)
    X = (rng.random(size=(800, 10)) < 0.4).astype(float)
    y = X[:, 3] + 2 * X[:, 8]
    for method in (foci, lfoci):
        assert set(method(y, X, seed=0).selected) == {3, 8}


def test_stopping_rule_and_limits(product_data) -> None:
    y, X = product_data
    assert foci(np.ones(len(y)), X, seed=0) == FociResult([], [])  # constant y: Q_1 = 0, nothing
    noise = np.random.default_rng(1).normal(size=len(y))
    assert len(foci(noise, X, seed=0).selected) <= 2  # independent y: stops almost at once
    limited = foci(y, X, max_features=2, seed=0)
    assert limited.selected == foci(y, X, seed=0).selected[:2]
    with pytest.raises(ValueError, match="max_features"):
        foci(y, X, max_features=0)
    with pytest.raises(ValueError, match="max_features"):
        foci(y, X, max_features=X.shape[1] + 1)


def test_standardisation_matters_and_is_checked() -> None:
    rng = np.random.default_rng(8)
    X = rng.normal(size=(400, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1]
    X_scaled = X * np.array([1.0, 1000.0, 1.0])  # column 1 would swamp every distance unscaled
    assert foci(y, X_scaled, seed=0).selected == foci(y, X, seed=0).selected
    assert foci(y, X_scaled, standardize=False, seed=0).selected != foci(y, X, seed=0).selected
    with pytest.raises(ValueError, match="constant"):
        foci(y, np.hstack([X, np.ones((400, 1))]))
    z = standardize_columns(torch.tensor(X_scaled))
    assert torch.allclose(z.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(z.std(0), torch.ones(3, dtype=torch.float64))


def test_numpy_and_torch_inputs_agree(product_data) -> None:
    y, X = product_data
    a = lfoci(y, X[:, :10], seed=2)
    b = lfoci(torch.tensor(y), torch.tensor(X[:, :10]), seed=2)
    assert a == b


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="rows"):
        foci(np.zeros(5), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        foci(np.zeros(1), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="NaN"):
        foci(np.array([1.0, 2.0, np.nan]), np.eye(3))
    for bad in (np.nan, np.inf, -np.inf):  # anywhere in X, found by its extremes
        X = np.eye(3)
        X[1, 2] = bad
        with pytest.raises(ValueError, match="NaN or infinite"):
            foci(np.array([1.0, 2.0, 3.0]), X)


def test_neighbour_rank_sums_are_the_torch_formula() -> None:
    rng = np.random.default_rng(4)
    r = torch.from_numpy(rng.integers(1, 300, size=300))
    m = torch.from_numpy(rng.integers(0, 300, size=(7, 300)))
    expected = torch.minimum(r[None, :], r[m]).sum(dim=1)
    assert torch.equal(neighbour_rank_sums(r, m), expected)
    assert torch.equal(neighbour_rank_sums(r, m.numpy()), expected)
    assert torch.equal(neighbour_rank_sums(r, m.T.contiguous().T), expected)  # any layout


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(product_data) -> None:
    y, X = product_data
    gpu = foci(torch.tensor(y, device="cuda"), torch.tensor(X, device="cuda"), seed=0)
    assert gpu == foci(y, X, seed=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_lfoci_on_binary_data_searches_within_groups_and_matches_cpu(monkeypatch) -> None:
    knn_module = importlib.import_module("unlearnbench.dependence.knn")
    calls: list[int] = []
    real = knn_module._clustered

    def spy(base, *args):
        calls.append(base.shape[1])
        return real(base, *args)

    monkeypatch.setattr(knn_module, "_clustered", spy)
    rng = np.random.default_rng(14)
    X = (rng.random(size=(3000, 10)) < np.linspace(0.2, 0.5, 10)).astype(float)
    y = X[:, 0] + X[:, 2] + X[:, 4] + X[:, 6] + X[:, 8] + X[:, 1] * X[:, 3]
    gpu = lfoci(torch.tensor(y, device="cuda"), torch.tensor(X, device="cuda"), seed=1)
    assert calls and len(gpu.selected) >= 4
    assert gpu == lfoci(y, X, seed=1)


@pytest.mark.parametrize("discrete", [False, True])
def test_every_neighbour_path_selects_the_same(discrete: bool) -> None:
    """Forcing each neighbour path gives the selections and statistics of the brute force."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(400, 8))
    if discrete:
        X = (X > 0.2).astype(float)
    y = X[:, 1] + X[:, 4] * X[:, 6] + (0 if discrete else 0.1 * rng.normal(size=400))
    expected = foci(y, X, seed=2, strategy="pruned")
    assert len(expected.selected) >= 2
    paths = ["auto", "grid", "dense"] + (["groups"] if discrete else [])
    for strategy in paths:
        got = foci(y, X, seed=2, strategy=strategy)
        assert (got.selected, got.statistics) == (expected.selected, expected.statistics), strategy
    lexpected = lfoci(y, X, seed=2, strategy="pruned")
    assert lfoci(y, X, seed=2, strategy="grid").selected == lexpected.selected
    if discrete:  # jittered binary columns: the search within base groups applies
        assert lfoci(y, X, seed=2, strategy="clustered") == lexpected


def test_a_table_mixing_discrete_and_continuous_columns_selects_as_brute_force() -> None:
    """Binary and continuous columns together: ties in some candidates, none in others; FOCI's
    default (the batched search picks grouping or the grid per candidate) equals the brute force."""
    rng = np.random.default_rng(11)
    n = 600
    X = rng.normal(size=(n, 7))
    X[:, [1, 3, 5]] = X[:, [1, 3, 5]] > 0
    y = X[:, 0] + 2 * X[:, 1] + X[:, 3] * X[:, 4] + 0.1 * rng.normal(size=n)
    expected = foci(y, X, seed=4, strategy="dense")
    assert len(expected.selected) >= 3 and {1, 3} & set(expected.selected)
    got = foci(y, X, seed=4)
    assert (got.selected, got.statistics) == (expected.selected, expected.statistics)


@pytest.mark.parametrize("seed", range(5))
def test_discrete_tables_take_the_grouped_scorer_and_select_as_brute_force(seed: int) -> None:
    """Seeded random discrete tables (binary and 3-valued columns, some rare values so that rows are
    alone in their pattern): FOCI's default (columns coded once, tie groups per step) gives the
    brute force's selections and statistics for the same seed, ties included."""
    from unlearnbench.dependence.groups import CodedTable

    rng = np.random.default_rng(300 + seed)
    n, p = int(rng.integers(80, 260)), int(rng.integers(3, 9))
    freq = rng.uniform(0.03, 0.5, size=p)
    X = (rng.random(size=(n, p)) < freq).astype(float)
    X[:, 0] += (rng.random(n) < 0.3).astype(float)  # a three-valued column
    y = X[:, 0] + X[:, 1] * X[:, 2] + (rng.random(n) < 0.2)
    assert CodedTable.of(standardize_columns(torch.tensor(X)).numpy()) is not None  # the grouped scorer runs
    expected = foci(y, X, seed=seed, strategy="dense")
    got = foci(y, X, seed=seed)
    assert (got.selected, got.statistics) == (expected.selected, expected.statistics)
    assert got == foci(y, X, seed=seed, strategy="groups")


def test_coded_table_only_for_discrete_tables() -> None:
    from unlearnbench.dependence.groups import CodedTable

    rng = np.random.default_rng(0)
    assert CodedTable.of(rng.normal(size=(300, 3))) is None
    binary = (rng.random(size=(300, 3)) < 0.4).astype(float)
    coded = CodedTable.of(binary)
    assert coded is not None
    values, codes = coded.columns[1]
    assert values.tolist() == [0.0, 1.0] and np.array_equal(values[codes], binary[:, 1])


def test_lfoci_on_binary_data_uses_the_grid_only_where_it_serves(monkeypatch) -> None:
    """L-FOCI's jittered binary table: the grid for the first two steps, then the pruned path
    (faster there, see grid_serves); the selection is the one-at-a-time reference's."""
    foci_module = importlib.import_module("unlearnbench.dependence.foci")
    grid_steps: list[int] = []
    real = foci_module.grid_neighbours

    def spy(ranked, selected, candidates, *args):
        grid_steps.append(len(selected))
        return real(ranked, selected, candidates, *args)

    monkeypatch.setattr(foci_module, "grid_neighbours", spy)
    rng = np.random.default_rng(12)
    X = (rng.random(size=(1200, 8)) < np.linspace(0.05, 0.5, 8)).astype(float)
    y = X[:, 1] + 2 * X[:, 4] + X[:, 6] + X[:, 0] * X[:, 7]
    fast = lfoci(y, X, seed=3)
    assert len(fast.selected) >= 3 and max(grid_steps) == 1
    slow = lfoci_reference(y, X, seed=3)
    assert fast.selected == slow.selected and fast.statistics == slow.statistics


def test_a_binary_target_searches_only_its_upper_class(monkeypatch) -> None:
    """Rows of the least rank add their own rank whatever their neighbour: with a binary y only
    the upper class is searched, and the selection is the one-at-a-time reference's."""
    foci_module = importlib.import_module("unlearnbench.dependence.foci")
    asked_sizes: list[int] = []
    real = foci_module.candidate_nearest_neighbours

    def spy(base, candidates, u, *, asked=None, **kwargs):
        asked_sizes.append(base.shape[0] if asked is None else asked.numel())
        return real(base, candidates, u, asked=asked, **kwargs)

    monkeypatch.setattr(foci_module, "candidate_nearest_neighbours", spy)
    rng = np.random.default_rng(21)
    X = (rng.random(size=(1500, 8)) < np.linspace(0.05, 0.5, 8)).astype(float)
    y = ((X[:, 1] + X[:, 4] + X[:, 6] * X[:, 0] + rng.random(1500)) > 1.6).astype(float)
    fast = lfoci(y, X, seed=5)
    assert asked_sizes and set(asked_sizes) == {int(y.sum())}
    slow = lfoci_reference(y, X, seed=5)
    assert fast.selected == slow.selected and fast.statistics == slow.statistics
    assert len(fast.selected) >= 2


def test_rows_needing_neighbours() -> None:
    foci_module = importlib.import_module("unlearnbench.dependence.foci")
    assert foci_module.rows_needing_neighbours(torch.tensor([3, 1, 2])).tolist() == [0, 2]
    assert foci_module.rows_needing_neighbours(torch.tensor([2, 4, 4, 2])).tolist() == [1, 2]
    assert foci_module.rows_needing_neighbours(torch.tensor([4, 4])).tolist() == []  # constant y
    assert foci_module.rows_needing_neighbours(torch.arange(1, 1001)) is None  # continuous: one row
