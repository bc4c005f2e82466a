"""One treatment of normalisation statistics for every gradient-based unlearning method.

In train mode, each forward pass of a batch-norm layer normalises with the *batch's* statistics
and moves its running statistics towards them. During unlearning that is a side effect, not
part of any method: gradient ascent sees only forget batches, gradient surgery forget and
retain batches, so their running statistics would drift differently (even a step of size 0
would change the generated samples), while Moon et al.'s fine-tuning runs in eval mode.
:func:`frozen_normalisation` gives them all the same treatment: the statistics of pretraining,
used and left untouched. Gradients are then those of the function that is evaluated and
sampled afterwards (eval-mode normalisation); the layers' affine weights stay trainable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn
from torch.nn.modules.batchnorm import _NormBase


def normalisation_layers(model: nn.Module) -> list[nn.Module]:
    """Every layer that keeps running statistics (batch norm of any dimension, instance norm with stats)."""
    return [m for m in model.modules() if isinstance(m, _NormBase) and m.track_running_stats]


@contextmanager
def frozen_normalisation(model: nn.Module) -> Iterator[list[nn.Module]]:
    """Run the block with every normalisation layer in eval mode; restore each layer's mode after.

    The rest of the model keeps its mode (dropout, if any, behaves as the caller set it).
    Yields the frozen layers, so callers can report how many there were.
    """
    layers = normalisation_layers(model)
    modes = [layer.training for layer in layers]
    for layer in layers:
        layer.eval()
    try:
        yield layers
    finally:
        for layer, mode in zip(layers, modes, strict=True):
            layer.train(mode)
