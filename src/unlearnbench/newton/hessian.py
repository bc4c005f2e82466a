"""Solving with the Hessian of a parameter block (config key ``hessian``).

All solvers return ``x = H'^{-1} b`` for the damped block Hessian
``H' = H_data + lambda I`` of the regularised objective
``F(w) = mean_i loss(w, z_i) + lambda/2 ||w||^2`` (``lambda``: the training weight decay):

- ``exact`` (default): Hessian-vector products by double backward through
  ``torch.func.functional_call`` and conjugate gradients. The Hessian is never formed,
  so memory is O(p) for a block of ``p`` parameters (plus one batch of activations).
- ``dense``: the block Hessian as a ``p x p`` matrix and a direct solve; only for small
  blocks, and the reference ``exact`` is tested against.
- ``finite-difference``: the authors' code. Curvature from gradient differences,
  ``(g_a - g_b)(g_a - g_b)^T / ||w_a - w_b||_1``, rank one per pair of points; the sum
  of such terms plus ``lambda I`` is inverted with Sherman-Morrison/Woodbury in
  O(p k + k^3) for ``k`` terms instead of a dense ``p x p`` solve. Caveat: for points a step
  ``h`` apart the term is ``h (H d)(H d)^T / ||d||_1`` for a unit direction ``d``: it shrinks
  linearly with ``h`` instead of estimating ``H``, so with small steps the update is close to
  a gradient step scaled by ``1/lambda`` (pinned by ``tests/test_newton_linalg.py``; every
  caption of an artifact that uses it says so, see :mod:`unlearnbench.captions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from unlearnbench.batching import Tensors, iter_batches, n_samples
from unlearnbench.newton.slices import Block, gather, substitute

HESSIANS = ("exact", "dense", "finite-difference")
LossFn = Callable[[nn.Module, Any], torch.Tensor]


class _LossModule(nn.Module):
    """Wraps ``loss_fn(model, batch)`` so ``functional_call`` can swap the model's parameters."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Any) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


class BlockLoss:
    """The training loss as a function of the block vector alone (other parameters frozen)."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, block: Block) -> None:
        self.model = model
        self.block = block
        self.wrapper = _LossModule(model, loss_fn)
        self.params = {name: p.detach() for name, p in model.named_parameters()}

    def theta(self) -> torch.Tensor:
        """The block's current values as a flat vector."""
        return gather(self.block, self.params).clone()

    def __call__(self, theta: torch.Tensor, batch: Tensors) -> torch.Tensor:
        params = substitute(self.block, self.params, theta)
        wrapped = {f"model.{name}": value for name, value in params.items()}
        return torch.func.functional_call(self.wrapper, wrapped, (batch,), strict=False)

    def gradient(self, theta: torch.Tensor, data: Tensors, batch_size: int) -> torch.Tensor:
        """Gradient of the mean loss over ``data`` with respect to the block."""
        total = torch.zeros_like(theta)
        n = n_samples(data)
        for batch in iter_batches(data, batch_size):
            t = theta.detach().requires_grad_(True)
            loss = self(t, batch)
            total += torch.autograd.grad(loss, t)[0] * (n_samples(batch) / n)
        return total

    def hvp(self, theta: torch.Tensor, v: torch.Tensor, data: Tensors, batch_size: int) -> torch.Tensor:
        """``H_data v``: Hessian of the mean loss over ``data`` times ``v`` (double backward)."""
        total = torch.zeros_like(theta)
        n = n_samples(data)
        for batch in iter_batches(data, batch_size):
            t = theta.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self(t, batch), t, create_graph=True)
            (hv,) = torch.autograd.grad(g, t, grad_outputs=v)
            total += hv * (n_samples(batch) / n)
        return total

    def dense_hessian(
        self, theta: torch.Tensor, data: Tensors, batch_size: int, chunk: int = 256
    ) -> torch.Tensor:
        """``H_data`` as a ``p x p`` matrix, rows from batched double backward (small blocks only).

        Memory: the matrix plus ``chunk`` basis rows; no identity matrix is formed.
        """
        p = theta.numel()
        hessian = torch.zeros(p, p, dtype=theta.dtype, device=theta.device)
        n = n_samples(data)
        for batch in iter_batches(data, batch_size):
            t = theta.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self(t, batch), t, create_graph=True)
            for start in range(0, p, chunk):
                stop = min(start + chunk, p)
                rows = torch.zeros(stop - start, p, dtype=theta.dtype, device=theta.device)
                rows[torch.arange(stop - start), torch.arange(start, stop)] = 1.0
                (h,) = torch.autograd.grad(g, t, grad_outputs=rows, retain_graph=True, is_grads_batched=True)
                hessian[start:stop] += h * (n_samples(batch) / n)
        return hessian


@dataclass
class CGResult:
    x: torch.Tensor
    iterations: int
    residual: float  # ||b - A x|| / ||b||
    converged: bool
    negative_curvature: bool


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    *,
    tol: float = 1e-6,
    max_iter: int = 500,
) -> CGResult:
    """Solve ``A x = b`` for symmetric positive definite ``A`` given only ``v -> A v``.

    Written in torch (rather than ``scipy.sparse.linalg.cg``) so it runs on the device
    the Hessian-vector products run on, without copies to NumPy at every iteration. If a
    direction of non-positive curvature appears (a non-convex model whose damped Hessian
    is indefinite), iteration stops at the last iterate and ``negative_curvature`` is set.
    """
    if tol <= 0 or max_iter <= 0:
        raise ValueError(f"tol and max_iter must be positive (got {tol}, {max_iter})")
    x = torch.zeros_like(b)
    b_norm = float(b.norm())
    if b_norm == 0.0:
        return CGResult(x, 0, 0.0, True, False)
    r = b.clone()
    p = r.clone()
    rs = torch.dot(r, r)
    negative = False
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the final count is reported)
        ap = matvec(p)
        curvature = torch.dot(p, ap)
        if curvature <= 0:
            negative = True
            iterations -= 1
            break
        alpha = rs / curvature
        x = x + alpha * p
        r = r - alpha * ap
        rs_new = torch.dot(r, r)
        if float(rs_new.sqrt()) <= tol * b_norm:
            rs = rs_new
            break
        p = r + (rs_new / rs) * p
        rs = rs_new
    residual = float(rs.sqrt()) / b_norm
    return CGResult(x, iterations, residual, residual <= tol, negative)


def dense_solve(hessian: torch.Tensor, b: torch.Tensor, damping: float) -> torch.Tensor:
    """``(H + damping I)^{-1} b`` by a direct solve (LU, as the authors' code does)."""
    shifted = hessian.clone()
    shifted.diagonal().add_(damping)
    return torch.linalg.solve(shifted, b)


def sherman_morrison_solve(
    damping: float, u: torch.Tensor, coefficient: float, b: torch.Tensor
) -> torch.Tensor:
    """``(damping I + c u u^T)^{-1} b`` in O(p) (Sherman-Morrison)."""
    if damping <= 0:
        raise ValueError(
            f"the damping (weight decay) must be positive to invert a low-rank Hessian, got {damping}"
        )
    scaled_b = b / damping
    denom = 1.0 + coefficient * torch.dot(u, u) / damping
    if float(denom) == 0.0:
        raise ValueError("the rank-one update makes the damped Hessian singular")
    return scaled_b - (coefficient * torch.dot(u, scaled_b) / denom) * (u / damping)


def woodbury_solve(
    damping: float, U: torch.Tensor, coefficients: Sequence[float] | torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """``(damping I + U diag(c) U^T)^{-1} b`` for ``U`` of shape ``[p, k]`` (Woodbury identity).

    ``(lI + U C U^T)^{-1} = I/l - U (C^{-1} + U^T U / l)^{-1} U^T / l^2``; only a ``k x k``
    system is solved. Terms with a zero coefficient are dropped (they contribute nothing).
    """
    if damping <= 0:
        raise ValueError(
            f"the damping (weight decay) must be positive to invert a low-rank Hessian, got {damping}"
        )
    c = torch.as_tensor(coefficients, dtype=b.dtype, device=b.device).reshape(-1)
    if U.ndim != 2 or U.shape[1] != c.numel():
        raise ValueError(f"U must be [p, k] with k = len(coefficients); got {tuple(U.shape)} and {c.numel()}")
    keep = c != 0
    U, c = U[:, keep], c[keep]
    if c.numel() == 0:
        return b / damping
    small = torch.diag(1.0 / c) + (U.T @ U) / damping
    correction = U @ torch.linalg.solve(small, U.T @ b)
    return b / damping - correction / damping**2


@dataclass
class RankOneTerm:
    """``coefficient * u u^T``: one finite-difference curvature term."""

    u: torch.Tensor
    coefficient: float


def finite_difference_term(
    g_a: torch.Tensor, g_b: torch.Tensor, w_a: torch.Tensor, w_b: torch.Tensor, scale: float = 1.0
) -> RankOneTerm | None:
    """The authors' rank-one curvature ``scale (g_a - g_b)(g_a - g_b)^T / ||w_a - w_b||_1``.

    Returns None when the two points coincide or the gradients do not change (no
    curvature information).
    """
    distance = float((w_a - w_b).abs().sum())
    u = g_a - g_b
    if distance == 0.0 or not torch.any(u != 0):
        return None
    return RankOneTerm(u=u, coefficient=scale / distance)


def low_rank_solve(damping: float, terms: Sequence[RankOneTerm], b: torch.Tensor) -> torch.Tensor:
    """``(damping I + sum_k c_k u_k u_k^T)^{-1} b``: Sherman-Morrison for one term, Woodbury for more."""
    if len(terms) == 1:
        return sherman_morrison_solve(damping, terms[0].u, terms[0].coefficient, b)
    if not terms:
        if damping <= 0:
            raise ValueError("no curvature term and no damping: the Hessian is zero")
        return b / damping
    U = torch.stack([t.u for t in terms], dim=1)
    return woodbury_solve(damping, U, [t.coefficient for t in terms], b)


def low_rank_dense(
    damping: float, terms: Sequence[RankOneTerm], p: int, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """The matrix ``damping I + sum c u u^T`` (tests only: it is what Woodbury avoids forming)."""
    matrix = damping * torch.eye(p, dtype=dtype)
    for term in terms:
        u = term.u.to(dtype)
        matrix += term.coefficient * torch.outer(u, u)
    return matrix


def block_of(tensors: Mapping[str, torch.Tensor], block: Block) -> torch.Tensor:
    """Convenience: the block vector of a name -> tensor mapping (e.g. a gradient bank entry)."""
    return gather(block, tensors)
