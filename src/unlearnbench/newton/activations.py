"""Perturbed activations: the samples L-FOCI selects slices from (paper Sec. 5, eqs. 10-12).

For a forget batch ``(x, y)`` a :class:`~unlearnbench.perturbations.Perturbation` makes
``m`` perturbed copies ``x_j`` (Gaussian input noise ``x + N(0, sigma^2)`` with ``sigma =
0.1`` in the authors' code; token replacement for text), and the method records, for each
copy ``j``:

- one feature per slice (the ``X`` of L-FOCI): the slice's output averaged over every
  dimension but the unit/channel one (spatial positions of a convolution, tokens of a
  sequence) and over the samples of the forget batch (a batch removal perturbs every
  sample and averages, as the authors' hooks do);
- the loss of the copy (the ``Y`` of L-FOCI): ``loss_fn(model, (x_j, y))``, or, when the
  loss function has ``sample_losses(outputs, targets)`` (per-sample losses whose mean is
  the batch loss, as :class:`~unlearnbench.models.text.MultilabelBCE` has), the mean of
  those read off the same forward pass (one pass instead of two).

Features come from forward hooks registered on the slice layers, stored by qualified
module name and laid out in :func:`~unlearnbench.newton.slices.slice_layers` order, so the
column of a slice does not depend on the order in which layers run. A layer called more
than once in a forward pass contributes the mean over its calls; a layer never called
yields a constant (zero) column that L-FOCI cannot select.

The perturbation draws all copies at once, before any forward pass, so the same seed gives
the same features whatever ``chunk`` is. The model runs in eval mode (no dropout, batch
norm uses its running statistics).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from unlearnbench.newton.slices import SliceLayer
from unlearnbench.perturbations import Perturbation

LossFn = Callable[[nn.Module, Any], torch.Tensor]


@dataclass
class PerturbationSample:
    """``features[j, s]``: slice ``s`` on copy ``j``; ``losses[j]``: the loss of copy ``j``."""

    features: torch.Tensor  # [m, n_slices]
    losses: torch.Tensor  # [m]


def _unit_features(output: torch.Tensor, kind: str) -> torch.Tensor:
    """Reduce a layer output to ``[batch, units]``."""
    if kind == "conv":  # [N, C, *spatial]
        return output.flatten(2).mean(dim=2) if output.ndim > 2 else output
    # Linear: [N, ..., units]; average any middle (token) dimensions.
    return output.reshape(output.shape[0], -1, output.shape[-1]).mean(dim=1)


class _FeatureHooks:
    """Forward hooks that sum each slice layer's unit features over calls."""

    def __init__(self, model: nn.Module, layers: Sequence[SliceLayer]) -> None:
        modules = dict(model.named_modules())
        self.layers = list(layers)
        self.sums: dict[str, torch.Tensor] = {}
        self.calls: dict[str, int] = {}
        self.enabled = True
        self.handles = [modules[layer.name].register_forward_hook(self._hook(layer)) for layer in self.layers]

    def _hook(self, layer: SliceLayer) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            if not self.enabled:
                return
            feats = _unit_features(output.detach(), layer.kind)
            self.sums[layer.name] = self.sums[layer.name] + feats if layer.name in self.sums else feats
            self.calls[layer.name] = self.calls.get(layer.name, 0) + 1

        return hook

    def collect(self, rows: int, device: torch.device) -> torch.Tensor:
        """``[rows, total_slices]`` features of the last forward pass, then reset."""
        cols = []
        for layer in self.layers:
            if layer.name in self.sums:
                cols.append(self.sums[layer.name] / self.calls[layer.name])
            else:
                cols.append(torch.zeros(rows, layer.n_slices, device=device))
        self.sums, self.calls = {}, {}
        return torch.cat(cols, dim=1)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _copy_losses(model: nn.Module, loss_fn: LossFn, copies: torch.Tensor, labels: Any) -> torch.Tensor:
    """Loss of each perturbed copy ``copies[j]`` (a whole forget batch), batched with vmap.

    ``vmap`` evaluates the unmodified ``loss_fn`` on every copy at once; models or losses
    that vmap cannot trace fall back to one call per copy (same numbers, slower).
    """
    try:
        return torch.func.vmap(lambda xj: loss_fn(model, (xj, labels)))(copies)
    except (RuntimeError, NotImplementedError):
        return torch.stack([loss_fn(model, (xj, labels)) for xj in copies])


@torch.no_grad()
def perturbed_activations(
    model: nn.Module,
    loss_fn: LossFn,
    forget: tuple[torch.Tensor, ...],
    layers: Sequence[SliceLayer],
    *,
    perturbation: Perturbation,
    copies: int,
    generator: torch.Generator,
    chunk: int = 256,
) -> PerturbationSample:
    """Features and losses of ``copies`` perturbed versions of the forget batch.

    ``forget`` is ``(inputs, labels, ...)``; only the inputs are perturbed. ``chunk``
    bounds the number of perturbed samples per forward pass (memory).
    """
    if copies < 2:
        raise ValueError(f"L-FOCI needs at least 2 perturbed copies, got {copies}")
    x, labels = forget[0], forget[1]
    device = x.device
    b = int(x.shape[0])
    perturbed = perturbation(x, copies, generator)
    if tuple(perturbed.shape) != (copies, *x.shape):
        raise ValueError(
            f"the perturbation returned shape {tuple(perturbed.shape)}, expected {(copies, *x.shape)}"
        )
    per_chunk = max(1, chunk // b)
    sample_losses = getattr(loss_fn, "sample_losses", None)
    was_training = model.training
    model.eval()
    hooks = _FeatureHooks(model, layers)
    features, losses = [], []
    try:
        for start in range(0, copies, per_chunk):
            c = min(per_chunk, copies - start)
            batch = perturbed[start : start + c]  # [c, b, ...]
            hooks.enabled = True
            outputs = model(batch.reshape(c * b, *x.shape[1:]))
            features.append(hooks.collect(c * b, device).reshape(c, b, -1).mean(dim=1))
            if sample_losses is not None:
                repeated = labels.repeat(c, *[1] * (labels.ndim - 1))
                losses.append(sample_losses(outputs, repeated).reshape(c, b).mean(dim=1))
            else:
                # A second pass with the hooks off: vmap cannot hand activations out.
                hooks.enabled = False
                losses.append(_copy_losses(model, loss_fn, batch, labels).reshape(c))
    finally:
        hooks.remove()
        model.train(was_training)
    return PerturbationSample(features=torch.cat(features), losses=torch.cat(losses))
