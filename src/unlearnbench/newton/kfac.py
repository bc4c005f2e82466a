"""Kronecker-factored Hessian per layer (K-FAC; Martens & Grosse 2015), inverted factor-wise.

The paper's appendix D.4 tries K-FAC as an alternative to L-FOCI blocks. For a layer with
inputs ``a`` (plus a constant 1 for the bias) and per-sample loss gradients ``d`` with
respect to its outputs, the layer's curvature block is approximated by ``A (x) G`` with
``A = E[a a^T]`` and ``G = E[d d^T]``, so ``(A (x) G)^{-1} vec(V) = vec(G^{-1} V A^{-1})``:
only two small matrices per layer are inverted, never the layer's full block.

Choices (the paper's K-FAC code is autograd-lib's):

- ``G`` uses the gradients of the *true* labels' loss (the empirical Fisher), because the
  suite's ``loss_fn`` is opaque: it cannot be re-evaluated with labels sampled from the
  model. Per-sample output gradients are the batch-mean loss's gradients times the batch
  size, which is exact for losses that average independent per-sample terms.
- Damping ``lambda`` (the weight decay) is split between the factors with Tikhonov
  factored damping: ``(A + pi sqrt(lambda) I) (x) (G + sqrt(lambda)/pi I)`` with
  ``pi = sqrt((tr A / dim A) / (tr G / dim G))``.
- Supported layers: ``Linear`` (token dimensions become positions) and ``Conv2d`` with
  ``groups=1``, zero padding given as numbers (patches via ``unfold``; KFC, Grosse &
  Martens 2016: ``A`` averages patches over positions, ``G`` sums output gradients over
  positions). Other sliceable layers are skipped and reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnbench.batching import Tensors, iter_batches, n_samples
from unlearnbench.newton.slices import SliceLayer

LossFn = Callable[[nn.Module, Any], torch.Tensor]


@dataclass
class KfacFactors:
    layer: SliceLayer
    A: torch.Tensor  # [in (+1), in (+1)]
    G: torch.Tensor  # [out, out]


def kfac_supported(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    return (
        isinstance(module, nn.Conv2d)
        and module.groups == 1
        and module.padding_mode == "zeros"
        and not isinstance(module.padding, str)
    )


def _inputs(module: nn.Module, x: torch.Tensor, with_bias: bool) -> torch.Tensor:
    """Layer inputs as ``[N, positions, features (+1)]``."""
    if isinstance(module, nn.Conv2d):
        patches = F.unfold(
            x, module.kernel_size, dilation=module.dilation, padding=module.padding, stride=module.stride
        )
        a = patches.transpose(1, 2)
    else:
        a = x.reshape(x.shape[0], -1, x.shape[-1])
    if with_bias:
        a = torch.cat([a, torch.ones_like(a[..., :1])], dim=-1)
    return a


def _output_grads(module: nn.Module, g: torch.Tensor) -> torch.Tensor:
    """Output gradients as ``[N, positions, out]``."""
    if isinstance(module, nn.Conv2d):
        return g.flatten(2).transpose(1, 2)
    return g.reshape(g.shape[0], -1, g.shape[-1])


def kfac_factors(
    model: nn.Module, loss_fn: LossFn, data: Tensors, layers: Sequence[SliceLayer], batch_size: int
) -> tuple[list[KfacFactors], list[str]]:
    """K-FAC factors of every supported layer over ``data``; also the names of skipped layers."""
    modules = dict(model.named_modules())
    used = [layer for layer in layers if kfac_supported(modules[layer.name])]
    skipped = [layer.name for layer in layers if layer not in used]
    if not used:
        raise ValueError("no layer supports K-FAC (Linear, or Conv2d with groups=1 and numeric zero padding)")
    records: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def hook(name: str) -> Callable[..., None]:
        def record(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            records.setdefault(name, []).append((inputs[0].detach(), output))

        return record

    handles = [modules[layer.name].register_forward_hook(hook(layer.name)) for layer in used]
    A_sum = {layer.name: None for layer in used}
    G_sum = {layer.name: None for layer in used}
    total = n_samples(data)
    was_training = model.training
    model.eval()
    try:
        for batch in iter_batches(data, batch_size):
            records.clear()
            loss = loss_fn(model, batch)
            calls = [(name, x, out) for name, recs in records.items() for x, out in recs]
            grads = torch.autograd.grad(loss, [out for _, _, out in calls], allow_unused=True)
            b = n_samples(batch)
            for (name, x, _), g in zip(calls, grads, strict=True):
                if g is None:
                    continue
                module = modules[name]
                a = _inputs(module, x, module.bias is not None)  # [N, T, in]
                d = _output_grads(module, g.detach() * b)  # per-sample: the loss is a batch mean
                A = torch.einsum("nti,ntj->ij", a, a) / a.shape[1]
                G = torch.einsum("nti,ntj->ij", d, d)
                A_sum[name] = A if A_sum[name] is None else A_sum[name] + A
                G_sum[name] = G if G_sum[name] is None else G_sum[name] + G
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    factors = []
    for layer in used:
        if A_sum[layer.name] is None:
            skipped.append(layer.name)  # never called in the forward pass
            continue
        factors.append(KfacFactors(layer, A_sum[layer.name] / total, G_sum[layer.name] / total))
    return factors, skipped


def layer_matrix(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``[W | b]`` as ``[out, in (+1)]`` (a conv filter is flattened)."""
    w = weight.reshape(weight.shape[0], -1)
    return torch.cat([w, bias.reshape(-1, 1)], dim=1) if bias is not None else w


def kfac_solve(factors: KfacFactors, gradient: torch.Tensor, damping: float) -> tuple[torch.Tensor, float]:
    """``(A (x) G + damping)^{-1}`` applied to the ``[out, in(+1)]`` gradient, with factored damping.

    Returns the solution and ``pi``.
    """
    if damping <= 0:
        raise ValueError(f"K-FAC needs a positive damping (the weight decay), got {damping}")
    A, G = factors.A, factors.G
    mean_a = float(torch.trace(A)) / A.shape[0]
    mean_g = float(torch.trace(G)) / G.shape[0]
    pi = math.sqrt(mean_a / mean_g) if mean_a > 0 and mean_g > 0 else 1.0
    root = math.sqrt(damping)
    A_d = A + pi * root * torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    G_d = G + (root / pi) * torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
    left = torch.linalg.solve(G_d, gradient)  # G^{-1} V
    return torch.linalg.solve(A_d, left.T).T, pi  # (G^{-1} V) A^{-1}; A is symmetric
