"""Gradient norms: how far a model is from a stationary point of a dataset's loss.

- the *residual* (retain-set) gradient norm ``||grad L(w, D')||`` of the paper's Lemma 1:
  the norm of the full-batch gradient of the mean loss over the retain set (the authors'
  code instead averages the norms of minibatch gradients, which is larger and depends on
  the batch size);
- the removed sample's gradient norm before and after its removal (paper Fig. 5): a
  larger norm after removal means the model has moved away from fitting that sample.

Gradients are of the data loss only (``loss_fn``), unless ``l2_lambda`` adds the weight
decay term ``lambda w`` of the regularised objective.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from unlearnbench.batching import as_tensors, iter_batches, n_samples

LossFn = Callable[[nn.Module, Any], torch.Tensor]


def dataset_gradient(
    model: nn.Module, loss_fn: LossFn, dataset: Dataset, *, batch_size: int = 1024, device: str = "cpu"
) -> list[torch.Tensor]:
    """``grad mean_{z in dataset} loss(w, z)``, one tensor per trainable parameter (zeros where unused).

    Kept apart from the norm so that one pass over a dataset yields both residual norms
    (data loss, and regularised objective) instead of two identical passes.
    """
    if len(dataset) == 0:
        raise ValueError("the gradient norm of an empty dataset is undefined")
    data = as_tensors(dataset, device)
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    n = n_samples(data)
    was_training = model.training
    model.eval()
    try:
        for batch in iter_batches(data, batch_size):
            grads = torch.autograd.grad(loss_fn(model, batch), params, allow_unused=True)
            for acc, g in zip(total, grads, strict=True):
                if g is not None:
                    acc += g.detach() * (n_samples(batch) / n)
    finally:
        model.train(was_training)
    return total


def gradient_norm(model: nn.Module, gradient: Sequence[torch.Tensor], l2_lambda: float = 0.0) -> float:
    """``||gradient (+ lambda w)||_2`` for a gradient of ``model``'s trainable parameters."""
    if l2_lambda:
        params = [p for p in model.parameters() if p.requires_grad]
        gradient = [g + l2_lambda * p.detach() for g, p in zip(gradient, params, strict=True)]
    return float(torch.sqrt(sum(g.double().pow(2).sum() for g in gradient)))


def dataset_gradient_norm(
    model: nn.Module,
    loss_fn: LossFn,
    dataset: Dataset,
    *,
    batch_size: int = 1024,
    device: str = "cpu",
    l2_lambda: float = 0.0,
) -> float:
    """``||grad mean_{z in dataset} loss(w, z) (+ lambda w)||_2`` over all trainable parameters."""
    gradient = dataset_gradient(model, loss_fn, dataset, batch_size=batch_size, device=device)
    return gradient_norm(model, gradient, l2_lambda)


def sample_gradient_norm(model: nn.Module, loss_fn: LossFn, sample: Dataset, *, device: str = "cpu") -> float:
    """Gradient norm of the (mean) loss of the removed sample(s)."""
    return dataset_gradient_norm(model, loss_fn, sample, batch_size=max(1, len(sample)), device=device)


def sample_loss(model: nn.Module, loss_fn: LossFn, sample: Dataset, *, device: str = "cpu") -> float:
    """Mean loss of the removed sample(s) in eval mode: Appendix D.4 judges an update by whether
    it moves this loss at all (K-FAC "no observable update" vs L-CODEC)."""
    if len(sample) == 0:
        raise ValueError("the loss of an empty sample is undefined")
    data = as_tensors(sample, device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return float(loss_fn(model, data))
    finally:
        model.train(was_training)
