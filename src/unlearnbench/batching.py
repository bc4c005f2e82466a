"""Turn a dataset into tensors once, then cut batches by slicing.

Newton steps pass over the retain set many times (one pass per Hessian-vector product),
so re-collating samples through a DataLoader each time would dominate the cost. A
``TensorDataset`` (or a ``Subset`` of one, as the experiments build) is indexed directly;
any other dataset is collated once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

Tensors = tuple[torch.Tensor, ...]


def as_tensors(dataset: Dataset, device: str | torch.device = "cpu") -> Tensors:
    """All samples of ``dataset`` as a tuple of stacked tensors (inputs, labels, ...)."""
    indices: torch.Tensor | None = None
    base = dataset
    while isinstance(base, Subset):
        step = torch.as_tensor(list(base.indices), dtype=torch.long)
        indices = step if indices is None else step[indices]
        base = base.dataset
    if isinstance(base, TensorDataset):
        tensors = base.tensors if indices is None else tuple(t[indices] for t in base.tensors)
    else:
        n = len(dataset)
        if n == 0:
            raise ValueError("cannot collate an empty dataset")
        batch = next(iter(DataLoader(dataset, batch_size=n, shuffle=False)))
        tensors = tuple(batch) if isinstance(batch, (list, tuple)) else (batch,)
    return tuple(t.to(device) for t in tensors)


def n_samples(tensors: Tensors) -> int:
    return int(tensors[0].shape[0])


def iter_batches(tensors: Tensors, batch_size: int) -> Iterator[Tensors]:
    """Consecutive batches (the last one may be short); never shuffles."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    n = n_samples(tensors)
    for start in range(0, n, batch_size):
        yield tuple(t[start : start + batch_size] for t in tensors)


@torch.no_grad()
def eval_outputs(
    model: nn.Module,
    fn: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    *,
    batch_size: int,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """``fn`` on consecutive batches of ``inputs`` (moved to ``device``) with ``model`` in eval mode,
    concatenated on the CPU; an empty tensor for no inputs.

    Predictions, embeddings and probabilities are all read this way; the model's train/eval
    mode is restored afterwards, so a caller in the middle of training is left as it was.
    """
    was_training = model.training
    model.eval()
    try:
        outs = [fn(batch.to(device)).cpu() for (batch,) in iter_batches((inputs,), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)
