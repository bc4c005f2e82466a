"""SSIM: identity, ordering under perturbation, the closed form for flat images, gradients."""

from __future__ import annotations

import pytest
import torch

from unlearnbench.metrics.ssim import K1, K2, gaussian_window, ssim


def _images(seed: int = 0, shape=(3, 3, 32, 32)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_ssim_of_an_image_with_itself_is_one():
    x = _images()
    assert torch.allclose(ssim(x, x, reduction="none"), torch.ones(3, dtype=torch.float64), atol=1e-12)


def test_ssim_falls_as_noise_grows_and_is_symmetric():
    x = _images()
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    small, large = (x + 0.05 * noise).clamp(0, 1), (x + 0.3 * noise).clamp(0, 1)
    s_small, s_large = float(ssim(x, small)), float(ssim(x, large))
    assert 1.0 > s_small > s_large
    assert float(ssim(small, x)) == pytest.approx(s_small, abs=1e-12)


def test_ssim_of_flat_images_follows_the_luminance_formula():
    """Constant images a, b: variances and covariance vanish, SSIM = (2ab + C1) / (a^2 + b^2 + C1)."""
    a, b = 0.2, 0.7
    x = torch.full((1, 1, 16, 16), a, dtype=torch.float64)
    y = torch.full((1, 1, 16, 16), b, dtype=torch.float64)
    c1 = K1**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert float(ssim(x, y)) == pytest.approx(expected, rel=1e-9)
    assert K2 > 0  # the structure term is (0 + C2) / (0 + C2) = 1 here


def test_ssim_works_below_the_window_size_and_has_gradients():
    x = _images(2, (2, 1, 8, 8)).requires_grad_(True)
    y = _images(3, (2, 1, 8, 8))
    value = ssim(x, y)
    value.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_window_is_normalised_and_inputs_are_checked():
    assert float(gaussian_window().sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="odd"):
        gaussian_window(4)
    with pytest.raises(ValueError, match="batches of one shape"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9))
