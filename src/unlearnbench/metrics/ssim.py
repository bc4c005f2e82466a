"""Structural similarity (SSIM, Wang et al. 2004), differentiable, for batches of images.

Feature unlearning (Moon et al. 2023) adds a perceptual term to its loss so that the
fine-tuned decoder does not drift towards blurry averages; SSIM is that term here. No SSIM
package is among the suite's dependencies, and the loss needs gradients, so it is written
in torch: the standard definition with an 11x11 Gaussian window (sigma 1.5), constants
K1 = 0.01, K2 = 0.03, ``data_range`` 1 for images in [0, 1], the window applied per
channel without padding ("valid" positions only, as in the reference implementation), and
the map averaged over positions and channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

WINDOW_SIZE = 11
WINDOW_SIGMA = 1.5
K1, K2 = 0.01, 0.03


def gaussian_window(
    size: int = WINDOW_SIZE,
    sigma: float = WINDOW_SIGMA,
    *,
    dtype=torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """A normalised 1-D Gaussian of ``size`` taps (applied separably along rows and columns)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"the SSIM window size must be a positive odd number, got {size}")
    offsets = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    weights = torch.exp(-(offsets**2) / (2 * sigma**2))
    return weights / weights.sum()


def _filter(images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filtering of every channel, valid positions only."""
    channels = images.shape[1]
    size = window.numel()
    rows = window.view(1, 1, size, 1).expand(channels, 1, size, 1)
    cols = window.view(1, 1, 1, size).expand(channels, 1, 1, size)
    return F.conv2d(F.conv2d(images, rows, groups=channels), cols, groups=channels)


def ssim(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    data_range: float = 1.0,
    window_size: int = WINDOW_SIZE,
    sigma: float = WINDOW_SIGMA,
    reduction: str = "mean",
) -> torch.Tensor:
    """SSIM of two image batches ``[N, C, H, W]``: one value per image (``reduction='none'``) or their mean.

    Images smaller than the window are filtered with a window shrunk to the smaller side
    (made odd), so 8x8 stand-in digits still get a meaningful value.
    """
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(
            f"ssim needs two [N, C, H, W] batches of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    smallest = min(a.shape[-2:])
    size = min(window_size, smallest if smallest % 2 == 1 else smallest - 1)
    window = gaussian_window(size, sigma, dtype=a.dtype, device=a.device)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mu_a, mu_b = _filter(a, window), _filter(b, window)
    var_a = _filter(a * a, window) - mu_a**2
    var_b = _filter(b * b, window) - mu_b**2
    cov = _filter(a * b, window) - mu_a * mu_b
    luminance = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
    structure = (2 * cov + c2) / (var_a + var_b + c2)
    per_image = (luminance * structure).flatten(1).mean(1)
    return per_image.mean() if reduction == "mean" else per_image
