"""Gaussian noise of the Newton removal step (Sekhari et al. 2021, as L-CODEC uses it).

After the update, the updated parameters get ``N(0, sigma^2)`` noise with

    sigma = (gamma / epsilon) * sqrt(2 ln(1.25 / delta)),
    gamma = 2 M L^2 m^2 / (lambda^3 n^2),

for ``m`` removals out of ``n`` training points, an ``L``-Lipschitz loss with an
``M``-Lipschitz Hessian, and ``lambda``-strong convexity (here: the weight decay).

Config key ``noise``:

- ``paper``: ``M``, ``L`` from the config, ``m`` = the number of samples removed in
  this step and ``n`` = the current training-set size;
- ``authors-code``: the constants hard-coded in the authors' ``NoisyReturn``:
  ``M = 0.25``, ``L = 1`` and ``m = 1`` whatever the batch size, so a batch removal gets
  the noise of a single one, and ``n`` as their scripts pass it: ``orig_trainset_size``,
  which is 50000 in every MNIST and CIFAR-10 script (``scrub/scrub_scripts/mnist_*.sh``,
  ``cifar_*.sh``; also ``NoisyReturn``'s default ``nsamps``), even where the model was trained
  on 10000 points (Fig. 6). Their LEDGAR and re-ID scripts pass the full training-set size
  (``len(train_data)``) and the VGGFace script 982803; the experiment kinds of those papers'
  figures fill that in (see :func:`~unlearnbench.newton.settings.fill_authors_noise_n`);
- ``none``: no noise (tests, and inspecting the deterministic step).

Config key ``noise_n`` (an integer) replaces ``n`` in the formula for either variant; null
(default) means the rule above. The Newton step itself always uses the current ``n``.

Noise is added to the updated block only (the authors add it to the selected
parameter vector); unselected parameters stay bit-identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

NOISES = ("paper", "authors-code", "none")
AUTHORS_M = 0.25
AUTHORS_L = 1.0
#: ``orig_trainset_size`` of the authors' MNIST and CIFAR-10 scripts (and ``NoisyReturn``'s default).
AUTHORS_N = 50000


def noise_sample_size(variant: str, n_train: int, noise_n: int | None = None) -> int:
    """The ``n`` of the noise formula: ``noise_n`` if given, else the authors' 50000 or the current size."""
    if noise_n is not None:
        if int(noise_n) <= 0:
            raise ValueError(f"noise_n must be a positive integer or null, got {noise_n}")
        return int(noise_n)
    return AUTHORS_N if variant == "authors-code" else int(n_train)


@dataclass(frozen=True)
class NoiseScale:
    sigma: float
    gamma: float
    m: int  # the m that entered the formula
    hessian_lipschitz: float  # M
    lipschitz: float  # L
    variant: str


def noise_scale(
    variant: str,
    *,
    n: int,
    m: int,
    l2_lambda: float,
    epsilon: float,
    delta: float,
    hessian_lipschitz: float = AUTHORS_M,
    lipschitz: float = AUTHORS_L,
) -> NoiseScale:
    """The standard deviation of the removal noise for ``variant`` (see the module docstring)."""
    if variant not in NOISES:
        raise ValueError(f"unknown noise variant {variant!r}; use one of {', '.join(NOISES)}")
    if variant == "none":
        return NoiseScale(0.0, 0.0, m, hessian_lipschitz, lipschitz, variant)
    if n <= 0 or m <= 0:
        raise ValueError(f"n and m must be positive (got n={n}, m={m})")
    if l2_lambda <= 0:
        raise ValueError(
            f"the noise needs a positive strong-convexity constant lambda (weight decay), got {l2_lambda}"
        )
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    if variant == "authors-code":
        hessian_lipschitz, lipschitz, m = AUTHORS_M, AUTHORS_L, 1
    gamma = 2.0 * hessian_lipschitz * lipschitz**2 * m**2 / (l2_lambda**3 * n**2)
    sigma = (gamma / epsilon) * math.sqrt(2.0 * math.log(1.25 / delta))
    return NoiseScale(sigma, gamma, m, hessian_lipschitz, lipschitz, variant)


def add_noise(vector: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """``vector + N(0, sigma^2 I)``, drawn on the CPU from ``generator`` (device-independent)."""
    if sigma == 0.0:
        return vector
    noise = torch.randn(vector.shape, generator=generator, dtype=vector.dtype) * sigma
    return vector + noise.to(vector.device)
