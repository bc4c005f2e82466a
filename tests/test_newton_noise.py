"""The removal noise follows sigma = (gamma / epsilon) sqrt(2 ln(1.25 / delta)), gamma = 2 M L^2 m^2 / (lambda^3 n^2)."""

from __future__ import annotations

import math

import pytest
import torch

from unlearnbench.newton.noise import add_noise, noise_scale
from unlearnbench.newton.settings import NewtonSettings


def test_paper_noise_uses_the_configured_constants_and_the_batch_size():
    scale = noise_scale(
        "paper", n=1000, m=4, l2_lambda=0.1, epsilon=0.5, delta=0.01, hessian_lipschitz=2.0, lipschitz=3.0
    )
    gamma = 2 * 2.0 * 3.0**2 * 4**2 / (0.1**3 * 1000**2)
    assert scale.gamma == pytest.approx(gamma, rel=1e-12)
    assert scale.sigma == pytest.approx(gamma / 0.5 * math.sqrt(2 * math.log(1.25 / 0.01)), rel=1e-12)
    assert scale.m == 4


def test_authors_code_noise_hard_codes_m_l_and_single_removal():
    # The paper's MNIST setting: n = 50000 (the authors' orig_trainset_size), lambda 0.01.
    scale = noise_scale(
        "authors-code",
        n=50000,
        m=32,
        l2_lambda=0.01,
        epsilon=0.1,
        delta=0.01,
        hessian_lipschitz=7.0,
        lipschitz=9.0,
    )
    gamma = 2 * 0.25 * 1.0 * 1 / (0.01**3 * 50000**2)
    assert (scale.m, scale.hessian_lipschitz, scale.lipschitz) == (1, 0.25, 1.0)
    assert scale.sigma == pytest.approx(gamma / 0.1 * math.sqrt(2 * math.log(125.0)), rel=1e-12)
    assert scale.sigma == pytest.approx(6.2150e-3, rel=1e-4)


def test_no_noise_and_invalid_privacy_parameters():
    assert noise_scale("none", n=10, m=1, l2_lambda=0.0, epsilon=0.0, delta=0.0).sigma == 0.0
    for bad, message in (
        ({"epsilon": 0.0}, "epsilon"),
        ({"delta": 1.0}, "delta"),
        ({"l2_lambda": 0.0}, "lambda"),
    ):
        kwargs = {"n": 100, "m": 1, "l2_lambda": 0.01, "epsilon": 0.1, "delta": 0.01, **bad}
        with pytest.raises(ValueError, match=message):
            noise_scale("paper", **kwargs)
    with pytest.raises(ValueError, match="unknown noise"):
        noise_scale("laplace", n=100, m=1, l2_lambda=0.01, epsilon=0.1, delta=0.01)


def test_added_noise_has_the_requested_scale_and_is_seeded():
    vector = torch.zeros(20000)
    a = add_noise(vector, 0.3, torch.Generator().manual_seed(5))
    b = add_noise(vector, 0.3, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert float(a.std()) == pytest.approx(0.3, rel=0.03)
    assert add_noise(vector, 0.0, torch.Generator()) is vector


def test_settings_noise_for_uses_every_constant_of_the_settings() -> None:
    settings = NewtonSettings.from_hyperparameters(
        {
            "l2_lambda": 0.01,
            "noise": "authors-code",
            "noise_n": 500,
            "epsilon": 0.5,
            "delta": 1e-3,
            "M": 2.0,
            "L": 3.0,
        }
    )
    assert settings.noise_for(60000, 7) == noise_scale(
        "authors-code",
        n=500,
        m=7,
        l2_lambda=0.01,
        epsilon=0.5,
        delta=1e-3,
        hessian_lipschitz=2.0,
        lipschitz=3.0,
    )
