"""Shared machinery of the first-order methods: dataset gradients, projection, one optimiser step.

Gradients are handled as one flat vector over all trainable parameters, because the
gradient-surgery projection (paper 1, Sec. 2) is defined on the whole parameter vector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from unlearnbench.training import OptimizerSpec, to_device

LossFn = Callable[[nn.Module, Any], torch.Tensor]


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def flat_gradient(model: nn.Module, loss_fn: LossFn, batch: Any) -> torch.Tensor:
    """Gradient of ``loss_fn(model, batch)`` w.r.t. all trainable parameters, as one vector."""
    params = trainable(model)
    loss = loss_fn(model, batch)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """All trainable parameters as one detached vector (the order of :func:`flat_gradient`)."""
    return torch.cat([p.detach().reshape(-1) for p in trainable(model)])


def project_onto_normal_plane(g_f: torch.Tensor, g_r: torch.Tensor, *, only_if_conflicting: bool = False) -> torch.Tensor:
    """Remove from ``g_f`` its component along ``g_r``: g_f - (g_f . g_r / ||g_r||^2) g_r.

    With ``only_if_conflicting`` the projection is applied only when g_f . g_r < 0, as in
    PCGrad (Yu et al., 2020); the gradient-surgery paper projects unconditionally.
    """
    norm_sq = torch.dot(g_r, g_r)
    if norm_sq == 0:
        return g_f.clone()
    inner = torch.dot(g_f, g_r)
    if only_if_conflicting and inner >= 0:
        return g_f.clone()
    return g_f - (inner / norm_sq) * g_r


def assign_flat_gradient(model: nn.Module, flat: torch.Tensor) -> None:
    """Write a flat vector into the ``.grad`` fields of the trainable parameters."""
    offset = 0
    for p in trainable(model):
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n
    if offset != flat.numel():
        raise ValueError(f"gradient has {flat.numel()} entries, the model {offset}")


def forget_batches(dataset: Dataset, batch_size: int | None, generator: torch.Generator, device: str) -> Iterator[Any]:
    """Batches of the forget set; ``batch_size=None`` yields the whole set as one batch."""
    size = len(dataset) if batch_size is None else batch_size
    loader = DataLoader(dataset, batch_size=size, shuffle=True, generator=generator)
    for batch in loader:
        yield to_device(batch, device)


def retain_batch(dataset: Dataset, size: int, generator: torch.Generator, device: str) -> Any:
    """A uniformly drawn batch of ``size`` retain samples (without replacement when possible)."""
    size = min(size, len(dataset))
    sampler = RandomSampler(dataset, replacement=False, num_samples=size, generator=generator)
    loader = DataLoader(dataset, batch_size=size, sampler=sampler)
    return to_device(next(iter(loader)), device)


def optimiser_for(model: nn.Module, hyperparameters: dict[str, Any]) -> torch.optim.Optimizer:
    """A fresh optimiser (no state carried over from pretraining), as a one-shot update implies."""
    spec = OptimizerSpec(name=hyperparameters.get("optimizer", "adam"), lr=float(hyperparameters.get("lr", 5e-4)))
    return spec.build(trainable(model))


def mean_gradient(model: nn.Module, loss_fn: LossFn, dataset: Dataset, device: str, chunk: int = 1024) -> torch.Tensor:
    """Gradient of the mean loss over *every* sample of ``dataset`` (``retain_batch_size: all``).

    Computed in chunks and weighted by chunk size, which equals the full-batch gradient for a
    loss that averages over its batch, without holding the whole set's graph in memory.
    """
    total, weighted = 0, None
    for batch in DataLoader(dataset, batch_size=chunk, shuffle=False):
        size = int((batch[0] if isinstance(batch, (tuple, list)) else batch).shape[0])
        g = flat_gradient(model, loss_fn, to_device(batch, device)) * size
        weighted = g if weighted is None else weighted + g
        total += size
    if weighted is None:
        raise ValueError("retain_batch_size: all needs a non-empty retain set")
    return weighted / total
