"""Parameter slices: the unit that L-CODEC selects and the blockwise Newton step updates.

A *slice* is one output unit of a ``Linear`` layer (its weight row and bias entry) or one
output channel of a convolution (its filter and bias entry). In both cases it is row ``i``
along dimension 0 of the layer's weight and bias, which keeps gathering and scattering
uniform. Normalisation layers, embeddings and every other module are never sliced, so no
method built on slices ever updates them (the paper updates Linear/Conv slices only).

Layers are keyed by their qualified name from ``named_modules`` (which deduplicates by
object identity). The authors' code keys layers by ``str(module)``, the module's text
representation, so two layers with identical configuration (e.g. two ``Linear(100, 100)``)
collapse into one key and share gradients and parameters in their gradient bank; keying
by qualified name avoids that silent mix-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

#: Module types whose output units are slices. Transposed convolutions are not included:
#: their output channels live on dimension 1 of the weight.
SLICEABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class SliceLayer:
    """A sliceable layer: where its parameters are and how many slices it has."""

    name: str  # qualified module name ("" when the model itself is the layer)
    kind: str  # "linear" or "conv"
    n_slices: int
    weight: str  # qualified parameter name of the weight
    bias: str | None  # qualified parameter name of the bias, if any

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return (self.weight,) if self.bias is None else (self.weight, self.bias)


def _qualified(prefix: str, leaf: str) -> str:
    return f"{prefix}.{leaf}" if prefix else leaf


def slice_layers(model: nn.Module) -> list[SliceLayer]:
    """Every Linear/Conv layer with a trainable weight, in ``named_modules`` order.

    Frozen layers (``weight.requires_grad`` False) are skipped: they were not trained, so
    there is nothing to unlearn in them.
    """
    layers = []
    for name, module in model.named_modules():
        if not isinstance(module, SLICEABLE_TYPES) or not module.weight.requires_grad:
            continue
        kind = "linear" if isinstance(module, nn.Linear) else "conv"
        n_slices = module.out_features if kind == "linear" else module.out_channels
        bias = _qualified(name, "bias") if module.bias is not None and module.bias.requires_grad else None
        layers.append(
            SliceLayer(
                name=name, kind=kind, n_slices=int(n_slices), weight=_qualified(name, "weight"), bias=bias
            )
        )
    return layers


def slice_names(layers: Sequence[SliceLayer]) -> list[str]:
    """``layer[unit]`` labels of every slice in global order (for diagnostics)."""
    return [f"{layer.name or '<model>'}[{unit}]" for layer in layers for unit in range(layer.n_slices)]


def total_slices(layers: Sequence[SliceLayer]) -> int:
    return sum(layer.n_slices for layer in layers)


@dataclass(frozen=True)
class Block:
    """A set of parameter rows: ``rows[param_name]`` are the sorted row indices selected.

    The flat block vector concatenates, parameter by parameter in ``rows`` order, the
    selected rows flattened; :func:`gather` and :func:`scatter_` use that layout.
    """

    rows: Mapping[str, torch.Tensor]
    n_slices: int

    def size(self, params: Mapping[str, torch.Tensor]) -> int:
        """Number of scalar parameters in the block."""
        return sum(int(idx.numel()) * _row_numel(params[name]) for name, idx in self.rows.items())


def _row_numel(tensor: torch.Tensor) -> int:
    return int(tensor[0].numel()) if tensor.ndim > 1 else 1


def block_from_slices(layers: Sequence[SliceLayer], selected: Sequence[int]) -> Block:
    """The block of the globally indexed slices ``selected`` (indices into :func:`slice_names`)."""
    total = total_slices(layers)
    chosen = sorted({int(i) for i in selected})
    if chosen and (chosen[0] < 0 or chosen[-1] >= total):
        raise ValueError(f"slice indices must lie in [0, {total}); got {chosen[0]}..{chosen[-1]}")
    rows: dict[str, torch.Tensor] = {}
    start = 0
    for layer in layers:
        units = [i - start for i in chosen if start <= i < start + layer.n_slices]
        start += layer.n_slices
        if not units:
            continue
        index = torch.tensor(units, dtype=torch.long)
        for name in layer.parameter_names:
            rows[name] = index
    return Block(rows, n_slices=len(chosen))


def full_block(layers: Sequence[SliceLayer]) -> Block:
    """Every slice of every layer: all Linear/Conv parameters."""
    return block_from_slices(layers, range(total_slices(layers)))


def gather(block: Block, tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Flatten the block's rows of ``tensors`` (parameters, gradients...) into one vector."""
    parts = [tensors[name][idx.to(tensors[name].device)].reshape(-1) for name, idx in block.rows.items()]
    if not parts:
        raise ValueError("the block is empty: no slice was selected")
    return torch.cat(parts)


def split(block: Block, params: Mapping[str, torch.Tensor], vector: torch.Tensor) -> dict[str, torch.Tensor]:
    """Cut a flat block vector back into per-parameter row tensors ``[k, *shape[1:]]``."""
    out, offset = {}, 0
    for name, idx in block.rows.items():
        shape = (int(idx.numel()), *params[name].shape[1:])
        count = int(torch.Size(shape).numel())
        out[name] = vector[offset : offset + count].reshape(shape)
        offset += count
    if offset != vector.numel():
        raise ValueError(f"block vector has {vector.numel()} entries, the block {offset}")
    return out


@torch.no_grad()
def scatter_(block: Block, model: nn.Module, vector: torch.Tensor) -> None:
    """Write ``vector`` into the block's rows of ``model``'s parameters, in place.

    Only the selected rows are written (``index_copy_``), so every other entry stays
    bit-identical.
    """
    params = dict(model.named_parameters())
    for name, rows in split(block, params, vector).items():
        param = params[name]
        param.index_copy_(0, block.rows[name].to(param.device), rows.to(param.dtype))


def substitute(
    block: Block, params: Mapping[str, torch.Tensor], vector: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Parameters with the block's rows replaced by ``vector`` (differentiable in ``vector``).

    Every parameter is returned detached except through the block rows, so autograd only
    ever differentiates with respect to the block.
    """
    out = {name: p.detach() for name, p in params.items()}
    for name, rows in split(block, params, vector).items():
        base = out[name]
        out[name] = base.index_copy(0, block.rows[name].to(base.device), rows)
    return out
