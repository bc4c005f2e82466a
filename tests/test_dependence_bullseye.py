"""The 3D-Bullseye generator: shapes, the structural equations, ground truth, feature maps."""

from __future__ import annotations

import numpy as np
import pytest

from unlearnbench.dependence import lfoci
from unlearnbench.dependence.bullseye import (
    MARKOV_BLANKET,
    NON_BLANKET,
    learn_feature_maps,
    make_bullseye,
    selection_rates,
)


def test_shapes_and_structural_equations() -> None:
    eps = 0.075
    d = make_bullseye(1000, dim=3, eps=eps, seed=0)
    assert d.radii.shape == (1000, 6) and d.points.shape == (1000, 3, 6) and d.y.shape == (1000,)
    assert len(d.features()) == 6 and d.features()[2].shape == (1000, 3)
    r = d.radii
    inner = (r[:, 0] >= 0.25) & (r[:, 0] <= 0.5)
    outer = (r[:, 0] >= 0.75) & (r[:, 0] <= 1.0)
    assert np.all(inner | outer) and 0.4 < inner.mean() < 0.6  # the bullseye: two rings, half each
    tol = eps + 1e-12
    assert np.all(np.abs(r[:, 1] - r[:, 0]) <= tol) and np.all(np.abs(r[:, 2] - r[:, 0]) <= tol)
    assert np.all(np.abs(r[:, 3] - r[:, 2]) <= tol)
    assert np.all(np.abs(r[:, 4] - (r[:, 1] + r[:, 3]) / 2) <= tol)
    assert np.all(np.abs(d.y - (r[:, 2] + r[:, 4]) / 2) <= tol)
    assert np.all(np.abs(r[:, 5] - (r[:, 3] + d.y) / 2) <= tol)
    assert np.allclose(np.linalg.norm(d.points, axis=1), r)  # each feature lies on its radius' sphere


def test_ground_truth_and_rates() -> None:
    assert {2, 3, 4, 5} == MARKOV_BLANKET and {0, 1} == NON_BLANKET
    assert selection_rates([2, 3, 4, 5]) == (1.0, 0.0)
    assert selection_rates([0, 2, 5]) == (0.5, 0.5)
    assert selection_rates([]) == (0.0, 0.0)
    with pytest.raises(ValueError, match="not all in"):
        selection_rates([7])


def test_seeds_reproduce() -> None:
    a, b, c = make_bullseye(50, seed=1), make_bullseye(50, seed=1), make_bullseye(50, seed=2)
    assert np.array_equal(a.points, b.points) and not np.array_equal(a.points, c.points)
    with pytest.raises(ValueError, match="n must be"):
        make_bullseye(1)


def test_lfoci_on_the_latent_radii_finds_the_blanket() -> None:
    d = make_bullseye(2000, seed=3)
    tpr, _ = selection_rates(lfoci(d.y, d.radii, seed=0).selected)
    assert tpr >= 0.75


def test_feature_maps_are_seeded_standardised_codes() -> None:
    d = make_bullseye(300, seed=4)
    a = learn_feature_maps(d, seed=0, epochs=2, batch_size=100, decoder_hidden=32)
    b = learn_feature_maps(d, seed=0, epochs=2, batch_size=100, decoder_hidden=32)
    assert a.shape == (300, 6) and np.array_equal(a, b)
    assert np.allclose(a.mean(0), 0, atol=1e-9) and np.allclose(a.std(0), 1)
    with pytest.raises(ValueError, match="keep_prob"):
        learn_feature_maps(d, seed=0, keep_prob=0.0)
