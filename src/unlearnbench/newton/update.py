"""The blockwise Newton removal step (Sekhari et al. 2021 as L-CODEC Alg. 1 uses it).

For ``m`` removed points ``F`` out of ``n`` training points and a block ``P`` of
parameters (all others fixed):

    H'_P = (n H_P - sum_{z in F} H_P(z)) / (n - m) + lambda I
    w_P <- w_P + H'_P^{-1} (sum_{z in F} grad_P f(w, z)) / (n - m) + N(0, sigma^2 I)

where ``H_P`` is the block of the mean training-loss Hessian and ``lambda`` the weight
decay (the objective is ``mean loss + lambda/2 ||w||^2``; ``f`` is the per-sample
regularised loss unless ``sample_gradient: data-only``). With ``hessian: exact`` or
``dense`` the bracket is evaluated as the Hessian of the mean loss over the retain set,
which is the same quantity: ``n H - sum_F H(z) = sum_{retain} H(z)`` (a retain *sample*
gives an unbiased estimate). With ``finite-difference`` it is built literally from the
gradient bank (``n H``) and one finite difference per removed point (``H(z)``).

For ``exact`` and ``dense``, a block Hessian that is not positive definite (a non-convex
model) is modified by adding a multiple of the identity until it is (see
:data:`MAX_SHIFTS`); the shift is reported as ``hessian_shift``.

Differences from the authors' code, by design: the step uses ``1/(n - m)`` and the sum
of the removed gradients for a batch (the code uses ``1/(n - 1)`` and the batch-mean
gradient); the removed point's finite difference perturbs the block only and uses the
point's own gradient at the moved parameters (the code's second gradient is read from the
first gradient's dictionary, which makes its sample Hessian zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from unlearnbench.batching import Tensors, n_samples
from unlearnbench.newton.hessian import (
    BlockLoss,
    RankOneTerm,
    conjugate_gradient,
    finite_difference_term,
    low_rank_solve,
)
from unlearnbench.newton.noise import add_noise
from unlearnbench.newton.settings import NewtonSettings
from unlearnbench.newton.slices import Block, gather, scatter_

LossFn = Any


@dataclass
class StepReport:
    """What one block step did; ``as_dict`` goes into ``UnlearningOutcome.diagnostics``."""

    n_params_updated: int
    hessian: str
    step_norm: float
    noise_sigma: float
    noise_gamma: float
    noise_m: int
    noise_n: int
    cg_iterations: int | None = None
    cg_residual: float | None = None
    cg_converged: bool | None = None
    negative_curvature: bool | None = None
    hessian_shift: float | None = None
    curvature_terms: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def removal_gradient(
    block_loss: BlockLoss, theta: torch.Tensor, forget: Tensors, settings: NewtonSettings
) -> torch.Tensor:
    """``sum_{z in F} grad_P f(w, z)``: the removed points' summed (regularised) gradient."""
    m = n_samples(forget)
    g = block_loss.gradient(theta, forget, settings.batch_size) * m
    if settings.sample_gradient == "regularised":
        g = g + m * float(settings.l2_lambda) * theta
    return g


def _finite_difference_terms(
    block_loss: BlockLoss,
    block: Block,
    theta: torch.Tensor,
    forget: Tensors,
    n: int,
    settings: NewtonSettings,
) -> list[RankOneTerm]:
    """``n/(n-m)`` times the bank's curvature, minus ``1/(n-m)`` times each removed point's."""
    bank = settings.gradient_bank
    assert bank is not None  # validated in NewtonSettings
    m = n_samples(forget)
    prev, last = bank.last_two()
    device, dtype = theta.device, theta.dtype

    def vec(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        return gather(block, tensors).to(device=device, dtype=dtype)

    terms = []
    full = finite_difference_term(
        vec(last.grads), vec(prev.grads), vec(last.params), vec(prev.params), scale=n / (n - m)
    )
    if full is not None:
        terms.append(full)
    for i in range(m):
        point = tuple(t[i : i + 1] for t in forget)
        g1 = block_loss.gradient(theta, point, 1)
        moved = theta - settings.fd_step * g1
        g2 = block_loss.gradient(moved, point, 1)
        term = finite_difference_term(g1, g2, theta, moved, scale=-1.0 / (n - m))
        if term is not None:
            terms.append(term)
    return terms


#: Hessian modification (Nocedal & Wright, Numerical Optimization, Sec. 3.4, "adding a multiple
#: of the identity"): when the damped block Hessian is not positive definite, retry with
#: ``H + (lambda + tau) I`` for ``tau = beta, 2 beta, 4 beta, ...``, ``beta = max(lambda, 1e-3)``.
#: The paper points to exactly this for non-convex models (Sec. 5.1, "A note on convexity").
MAX_SHIFTS = 30


def _shifts(lam: float):
    beta, tau = max(lam, 1e-3), 0.0
    for _ in range(MAX_SHIFTS):
        yield tau
        tau = beta if tau == 0.0 else 2.0 * tau


def _modified_cg(
    hvp, b: torch.Tensor, lam: float, settings: NewtonSettings
) -> tuple[torch.Tensor, dict[str, Any]]:
    """CG on ``H + (lambda + tau) I`` with the smallest ``tau`` of the schedule showing no negative curvature."""
    iterations = 0
    for tau in _shifts(lam):
        result = conjugate_gradient(
            lambda v, tau=tau: hvp(v) + (lam + tau) * v, b, tol=settings.cg_tol, max_iter=settings.cg_max_iter
        )
        iterations += result.iterations
        if not result.negative_curvature:
            break
    return result.x, {
        "cg_iterations": iterations,
        "cg_residual": result.residual,
        "cg_converged": result.converged,
        "negative_curvature": tau > 0 or result.negative_curvature,
        "hessian_shift": tau,
    }


def _modified_dense(
    hessian: torch.Tensor, b: torch.Tensor, lam: float
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Dense counterpart of :func:`_modified_cg`: the first ``tau`` whose Cholesky factorisation succeeds.

    The shift is added to the diagonal in place, so the only extra ``p x p`` buffer is the factor.
    """
    applied = 0.0
    for tau in _shifts(lam):
        hessian.diagonal().add_(lam + tau - applied)
        applied = lam + tau
        factor, info = torch.linalg.cholesky_ex(hessian)
        if int(info) == 0:
            return torch.cholesky_solve(b[:, None], factor)[:, 0], {
                "negative_curvature": tau > 0,
                "hessian_shift": tau,
            }
        del factor
    raise ValueError("the block Hessian stays indefinite after every Hessian modification")


def block_newton_step(
    model: nn.Module,
    loss_fn: LossFn,
    block: Block,
    forget: Tensors,
    retain: Tensors | None,
    n_train: int,
    settings: NewtonSettings,
    generator: torch.Generator,
) -> StepReport:
    """Apply the noisy blockwise Newton removal step to ``model`` in place."""
    m = n_samples(forget)
    if n_train - m <= 0:
        raise ValueError(f"cannot remove {m} of {n_train} training points: nothing would remain")
    lam = float(settings.l2_lambda)
    block_loss = BlockLoss(model, loss_fn, block)
    theta = block_loss.theta()
    b = removal_gradient(block_loss, theta, forget, settings) / (n_train - m)
    extra: dict[str, Any] = {}
    if settings.hessian in ("exact", "dense"):
        if retain is None or n_samples(retain) == 0:
            raise ValueError(f"hessian: {settings.hessian} needs a non-empty retain set")
        if settings.hessian == "exact":
            step, extra = _modified_cg(
                lambda v: block_loss.hvp(theta, v, retain, settings.batch_size), b, lam, settings
            )
        else:
            step, extra = _modified_dense(
                block_loss.dense_hessian(theta, retain, settings.batch_size), b, lam
            )
    else:
        terms = _finite_difference_terms(block_loss, block, theta, forget, n_train, settings)
        step = low_rank_solve(lam, terms, b)
        extra = {"curvature_terms": len(terms)}
    scale = settings.noise_for(n_train, m)
    updated = add_noise(theta + step, scale.sigma, generator)
    scatter_(block, model, updated)
    return StepReport(
        n_params_updated=int(theta.numel()),
        hessian=settings.hessian,
        step_norm=float(step.norm()),
        noise_sigma=scale.sigma,
        noise_gamma=scale.gamma,
        noise_m=scale.m,
        noise_n=settings.noise_sample_size(n_train),
        **extra,
    )
