"""The perturbed copies of a forget batch that L-FOCI selects slices from (L-CODEC Sec. 5).

L-FOCI learns which slices the loss depends on by perturbing the forget batch ``copies``
times and watching activations and losses move together. How to perturb depends on the
input: Gaussian noise suits images and other real-valued inputs (the paper and the
authors' code), but token ids are categories, so text replaces random tokens instead (the
authors' ``n_tokens_to_replace``). A :class:`Perturbation` is passed on
:class:`~unlearnbench.request.UnlearningRequest`; the Newton methods read activations and
losses of its copies the same way whatever it is (:mod:`unlearnbench.newton.activations`).

Every random number comes from the generator handed in, which the methods share with the
slice selection and the removal noise: a perturbation draws first, in one call, so a seed
gives the same copies whatever the chunking of the forward passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch


class Perturbation(Protocol):
    """Makes ``copies`` perturbed versions of the forget inputs (``[batch, ...]``).

    Returns ``[copies, *inputs.shape]`` on the inputs' device; draws only from ``generator``.
    """

    def __call__(self, inputs: torch.Tensor, copies: int, generator: torch.Generator) -> torch.Tensor: ...


@dataclass(frozen=True)
class GaussianInputNoise:
    """``inputs + std * N(0, 1)``, the noise drawn on the CPU in one draw (``std = 0.1`` in the authors' code).

    One draw for all copies because torch's CPU sampler consumes the stream differently for
    different tensor sizes; on the CPU so that a seed gives the same copies on any device.
    """

    std: float = 0.1

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise ValueError(f"the perturbation std must be positive, got {self.std}")

    def __call__(self, inputs: torch.Tensor, copies: int, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn((copies, *inputs.shape), generator=generator, dtype=inputs.dtype)
        return inputs.unsqueeze(0) + self.std * noise.to(inputs.device)


@dataclass(frozen=True)
class TokenReplacement:
    """Perturbed copies of token sequences: ``n_tokens`` random tokens replaced per copy.

    Only ordinary positions are replaced (never padding, ``[CLS]`` or ``[SEP]``: the ids in
    ``special``); the replacement is drawn uniformly from ``pool``. A sequence with fewer
    replaceable tokens than ``n_tokens`` has all of them replaced.
    """

    pool: Sequence[int]
    special: Sequence[int]
    n_tokens: int = 1

    def __post_init__(self) -> None:
        if self.n_tokens <= 0:
            raise ValueError(f"n_tokens must be positive, got {self.n_tokens}")
        if len(self.pool) == 0:
            raise ValueError("the replacement pool is empty")

    def __call__(self, inputs: torch.Tensor, copies: int, generator: torch.Generator) -> torch.Tensor:
        """``[copies, *inputs.shape]`` perturbed copies of the token ids ``inputs`` ([batch, length])."""
        if inputs.ndim != 2 or inputs.dtype != torch.long:
            raise ValueError(
                f"token ids must be a [batch, length] long tensor, got {inputs.dtype} {tuple(inputs.shape)}"
            )
        if copies < 1:
            raise ValueError(f"copies must be positive, got {copies}")
        cpu = inputs.cpu()
        replaceable = ~torch.isin(cpu, torch.as_tensor(list(self.special), dtype=torch.long))
        k = min(self.n_tokens, cpu.shape[1])
        scores = torch.rand((copies, *cpu.shape), generator=generator)
        scores = torch.where(replaceable, scores, torch.full_like(scores, -1.0))
        top = scores.topk(k, dim=-1)
        pool = torch.as_tensor(list(self.pool), dtype=torch.long)
        draws = pool[torch.randint(len(pool), (copies, *cpu.shape[:1], k), generator=generator)]
        out = cpu.unsqueeze(0).repeat(copies, 1, 1)
        current = out.gather(-1, top.indices)
        new = torch.where(top.values >= 0, draws, current)  # protected positions keep their token
        out.scatter_(-1, top.indices, new)
        return out.to(inputs.device)
