"""CODEC and L-CODEC: the coefficient's defining properties, input handling, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnbench.dependence import codec, lcodec
from unlearnbench.dependence.codec import codec_from_neighbours, rank_counts, smallest_gap


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(2022)


def test_independent_variables_give_about_zero(rng: np.random.Generator) -> None:
    y, z = rng.normal(size=2000), rng.normal(size=(2000, 2))
    assert abs(codec(y, z, seed=0)) < 0.05
    assert abs(lcodec(y, z, seed=0)) < 0.05


@pytest.mark.parametrize("f", [np.sin, np.abs, lambda t: np.floor(3 * t)])
def test_function_of_z_gives_about_one(rng: np.random.Generator, f) -> None:
    z = rng.uniform(-3, 3, size=2000)
    assert codec(f(z), z, seed=0) > 0.9
    assert lcodec(f(z), z, seed=0) > 0.9


def test_conditional_coefficient(rng: np.random.Generator) -> None:
    n = 2000
    x, z = rng.normal(size=n), rng.normal(size=n)
    y = x + 0.3 * rng.normal(size=n)  # depends on x only
    assert abs(codec(y, z, x, seed=0)) < 0.1
    y2 = x + z  # given x, a function of z
    assert codec(y2, z, x, seed=0) > 0.8


def test_ranks_count_ties_as_in_the_definition() -> None:
    r, left = rank_counts(torch.tensor([3.0, 1.0, 3.0, 2.0], dtype=torch.float64))
    assert r.tolist() == [4, 1, 4, 2]  # #{j: y_j <= y_i}
    assert left.tolist() == [2, 4, 2, 3]  # #{j: y_j >= y_i}


def test_exact_value_on_a_hand_computed_example() -> None:
    # y = (1, 2, 3, 4), neighbours M = (1, 0, 3, 2): sum min(R, R_M) = 1 + 1 + 3 + 3 = 8;
    # L = (4, 3, 2, 1): sum L^2 = 30, sum L (n - L) = 0 + 3 + 4 + 3 = 10 -> T = (4 * 8 - 30) / 10
    r, left = rank_counts(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    assert codec_from_neighbours(r, left, torch.tensor([1, 0, 3, 2])) == pytest.approx(0.2)
    assert codec([1.0, 2.0, 3.0, 4.0], [0.0, 0.1, 5.0, 5.2]) == pytest.approx(0.2)


def test_constant_y_gives_one_as_the_r_package() -> None:
    assert codec(np.ones(50), np.arange(50.0)) == 1.0


def test_lcodec_matches_codec_on_continuous_data(rng: np.random.Generator) -> None:
    x, z = rng.normal(size=(800, 2)), rng.normal(size=800)
    y = x[:, 0] * z + 0.5 * rng.normal(size=800)
    assert lcodec(y, z, x, seed=1) == pytest.approx(codec(y, z, x, seed=1), abs=1e-3)


def test_lcodec_is_robust_on_discrete_data(rng: np.random.Generator) -> None:
    n = 2000
    z = rng.integers(0, 5, size=n).astype(float)
    y = (z % 2 == 0).astype(float)  # a function of z, with massive ties in both
    assert codec(y, z, seed=0) == pytest.approx(1.0)
    assert lcodec(y, z, seed=0) == pytest.approx(1.0)
    # the literal eq. 8 (noise on Y too) loses the functional dependence: documented, not the default
    assert lcodec(y, z, seed=0, jitter_y=True) < 0.8
    noise = rng.integers(0, 3, size=n).astype(float)
    assert abs(np.mean([lcodec(noise, z, seed=s) for s in range(5)])) < 0.05
    x = rng.integers(0, 4, size=(n, 2)).astype(float)
    y2 = x[:, 0] + x[:, 1]
    assert lcodec(y2, x[:, 1], x[:, 0], seed=0) > 0.9
    assert abs(lcodec(y2, noise, x, seed=0) - 1.0) < 1e-12  # y2 a function of x: 0/0, defined as 1


def test_numpy_and_torch_inputs_agree(rng: np.random.Generator) -> None:
    y, z, x = rng.normal(size=300), rng.integers(0, 3, size=300).astype(float), rng.normal(size=(300, 2))
    for f in (codec, lcodec):
        a = f(y, z, x, seed=5)
        b = f(torch.tensor(y), torch.tensor(z), torch.tensor(x, dtype=torch.float32).double(), seed=5)
        c = f(y.tolist(), z[:, None], x, seed=5)
        assert a == b == c


def test_seed_controls_tie_breaking(rng: np.random.Generator) -> None:
    y, z = rng.integers(0, 2, size=400).astype(float), rng.integers(0, 2, size=400).astype(float)
    assert codec(y, z, seed=3) == codec(y, z, seed=3)
    assert len({codec(y, z, seed=s) for s in range(6)}) > 1  # ties really are drawn at random


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(rng: np.random.Generator) -> None:
    y, z, x = rng.normal(size=500), rng.normal(size=500), rng.normal(size=(500, 3))
    cpu = codec(y, z, x, seed=0)
    gpu = codec(
        torch.tensor(y, device="cuda"), torch.tensor(z, device="cuda"), torch.tensor(x, device="cuda"), seed=0
    )
    assert cpu == gpu


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="NaN"):
        codec([1.0, np.nan, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="rows"):
        codec([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2 rows"):
        codec([1.0], [1.0])
    with pytest.raises(ValueError, match="vector"):
        codec(np.ones((5, 2)), np.ones(5))
    with pytest.raises(ValueError, match="cannot be read"):
        codec(["a", "b"], [1.0, 2.0])
    with pytest.raises(ValueError, match="noise_scale"):
        lcodec([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], noise_scale=0.0)


def test_row_checks_name_the_array_and_the_minimum() -> None:
    from unlearnbench.dependence.cit import ksg_mi

    with pytest.raises(ValueError, match="y has 5 rows but z has 4"):
        codec(np.zeros(5), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="CODEC needs at least 2 rows, got 1"):
        codec(np.zeros(1), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="y has 5 rows but x has 4"):
        ksg_mi(np.zeros((4, 1)), np.zeros(5))
    with pytest.raises(ValueError, match="a conditional-independence test needs at least 3 rows, got 2"):
        ksg_mi(np.zeros((2, 1)), np.zeros(2))


def test_smallest_gap_is_the_sorted_columns_smallest_step() -> None:
    """Two-valued columns skip the sort; the gap is the one of sorting every column."""
    rng = np.random.default_rng(3)
    n = 500
    columns = [
        np.where(rng.random(n) < 0.3, 1.7, -0.4),  # binary: gap 2.1
        np.full(n, 5.0),  # constant: no gap
        rng.choice([0.0, 0.25, 1.0], size=n),  # three values: gap 0.25
        np.where(rng.random(n) < 0.5, 0.0, 0.2),  # binary: the smallest, 0.2
    ]
    t = torch.tensor(np.column_stack(columns))
    values = torch.sort(t, dim=0).values
    steps = values[1:] - values[:-1]
    assert smallest_gap(t) == steps[steps > 0].min().item() == 0.2
    assert smallest_gap(t[:, :3]) == 0.25
    assert smallest_gap(t[:, 1:2]) == 0.0
    assert smallest_gap(torch.tensor(rng.normal(size=(50, 3)))) > 0.0
