"""CI tests (L-CODEC and kNN-CMI statistics, local permutations) and the Markov-blanket search."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from unlearnbench.dependence.cit import (
    CITResult,
    chebyshev_neighbours,
    cmi_test,
    ksg_cmi,
    ksg_mi,
    lcodec_test,
    local_permutation,
    markov_blanket,
    permutation_p_value,
)


def test_permutation_p_value_counts_ties_and_is_never_zero() -> None:
    assert permutation_p_value(1.0, np.array([0.0, 1.0, 2.0])) == pytest.approx(3 / 4)
    assert permutation_p_value(9.0, np.zeros(99)) == pytest.approx(0.01)


def test_local_permutation_draws_from_z_neighbours() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2))
    nbrs = chebyshev_neighbours(z, 5)
    assert not (nbrs == np.arange(200)[:, None]).any()
    cheb = np.abs(z[:, None, :] - z[None, :, :]).max(axis=2)
    np.fill_diagonal(cheb, np.inf)
    assert np.allclose(np.sort(cheb, axis=1)[:, :5], np.take_along_axis(cheb, nbrs, axis=1))
    perm = local_permutation(nbrs, rng)
    assert all(perm[i] in nbrs[i] for i in range(200))
    assert len(set(perm.tolist())) > 150  # mostly a permutation: unused neighbours first


def test_ksg_estimates_known_mutual_information() -> None:
    rng = np.random.default_rng(1)
    n, rho = 2000, 0.8
    x = rng.normal(size=n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
    assert ksg_mi(x, y) == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.05)
    assert abs(ksg_mi(x, rng.normal(size=n))) < 0.05
    z = rng.normal(size=n)
    assert abs(ksg_cmi(z + rng.normal(size=n), z + rng.normal(size=n), z)) < 0.05  # CI given z
    assert ksg_cmi(x, y, z) == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.05)  # z irrelevant


def _chain(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    z = rng.normal(size=(n, 1))
    x = z + 0.5 * rng.normal(size=(n, 1))  # x independent of y given z
    y = z[:, 0] + 0.5 * rng.normal(size=n)
    x_dep = z + y[:, None] + 0.2 * rng.normal(size=(n, 1))  # given z, a noisy copy of y
    return x, y, z, x_dep


@pytest.mark.parametrize("test", [lcodec_test, cmi_test])
def test_size_and_power_on_a_small_chain(test) -> None:
    rejections_h0, rejections_h1 = 0, 0
    for rep in range(6):
        rng = np.random.default_rng(100 + rep)
        x, y, z, x_dep = _chain(rng, 250)
        rejections_h0 += test(x, y, z, rng, n_trials=30).p_value < 0.05
        rejections_h1 += test(x_dep, y, z, rng, n_trials=30).p_value < 0.05
    assert rejections_h0 <= 2 and rejections_h1 >= 5
    rng = np.random.default_rng(9)
    x, y, _, _ = _chain(rng, 250)
    assert test(x, y, None, rng, n_trials=30).p_value < 0.05  # marginally dependent


def test_markov_blanket_search_with_an_oracle() -> None:
    """DAG: f0 -> f1 -> Y -> f2 <- f3, f4 isolated. Blanket of Y: f1 (parent), f2 (child), f3 (co-parent)."""
    separations = {
        0: [{1}],  # f0 independent of Y given f1
        3: [set()],  # marginally independent (f2 is a collider), dependent given f2
        4: [set()],
    }

    def oracle(x, y, z, rng):
        feature = int(x[0, 0])
        cond = set() if z is None else {int(v) for v in z[0]}
        independent = any(
            s <= cond and not (feature == 3 and 2 in cond) for s in separations.get(feature, [])
        )
        return CITResult(0.0, 1.0 if independent else 0.0, 1)

    features = [np.full((10, 1), float(i)) for i in range(5)]  # each block carries its own index
    assert markov_blanket(features, np.arange(10.0), oracle, alpha=0.05, seed=0) == [1, 2, 3]
    assert markov_blanket(features, np.arange(10.0), oracle, alpha=0.05, seed=1) == [1, 2, 3]


def test_markov_blanket_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="alpha"):
        markov_blanket([np.zeros((5, 1))], np.zeros(5), lcodec_test, alpha=1.5)
    with pytest.raises(ValueError, match="rows"):
        markov_blanket([np.zeros((4, 1))], np.zeros(5), lcodec_test)
    with pytest.raises(ValueError, match="k_perm"):
        chebyshev_neighbours(np.zeros((3, 1)), 3)


def test_all_conditioning_subsets_are_reachable() -> None:
    """With a test that never finds independence every feature stays and every subset size is tried."""
    seen = []

    def never(x, y, z, rng):
        seen.append(0 if z is None else z.shape[1])
        return CITResult(1.0, 0.0, 1)

    features = [np.full((6, 1), float(i)) for i in range(4)]
    assert markov_blanket(features, np.arange(6.0), never, seed=0) == [0, 1, 2, 3]
    assert sorted(set(seen)) == [0, 1, 2, 3]
    assert len(seen) == 4 * sum(len(list(combinations(range(3), k))) for k in range(4))
