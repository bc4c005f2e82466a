"""Which slices a block step updates (config key ``selection``).

- ``lfoci``: every slice L-FOCI keeps, i.e. the estimated Markov blanket of the forget
  loss among the slice activations (paper eq. 12, Alg. 2);
- ``cheap``: the single slice of the first L-FOCI step, the most dependent one (the
  paper's "cheap" variant for VGGFace, where even a few slices of a huge layer would not
  fit); computed with ``max_features=1``;
- ``random``: as many slices as ``lfoci`` keeps, drawn uniformly at random. L-FOCI runs
  on the same perturbations and with the same seed stream as ``lfoci`` would, so the size
  matches the L-FOCI selection of the same removal (paper Sec. 7.1);
- ``full``: every slice (the full Newton step; no perturbation needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

SELECTIONS = ("lfoci", "cheap", "random", "full")


@dataclass
class Selection:
    """Selected global slice indices, plus what L-FOCI reported when it ran."""

    indices: list[int]
    strategy: str
    lfoci_selected: list[int] = field(default_factory=list)
    lfoci_statistics: list[float] = field(default_factory=list)


def _seed_from(generator: torch.Generator) -> int:
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator))


def select_slices(
    strategy: str,
    n_slices: int,
    generator: torch.Generator,
    features: torch.Tensor | None = None,
    losses: torch.Tensor | None = None,
    *,
    max_slices: int | None = None,
) -> Selection:
    """Choose slices with ``strategy``; ``features``/``losses`` come from perturbed copies.

    ``max_slices`` caps L-FOCI's selection (None: until its statistic stops increasing).
    Constant feature columns are never selected; constant losses select nothing.
    """
    if strategy not in SELECTIONS:
        raise ValueError(f"unknown selection {strategy!r}; use one of {', '.join(SELECTIONS)}")
    if n_slices <= 0:
        raise ValueError("the model has no Linear/Conv slice to select")
    if strategy == "full":
        return Selection(indices=list(range(n_slices)), strategy=strategy)
    if features is None or losses is None:
        raise ValueError(f"selection {strategy!r} needs the perturbed features and losses")
    if features.shape != (losses.shape[0], n_slices):
        raise ValueError(f"features must be [copies, {n_slices}], got {tuple(features.shape)}")
    # L-FOCI runs where the activations are (a GPU's batched brute force for m x p on CUDA; on a
    # CPU the neighbour path is chosen by the shape of the data, see dependence.knn).
    X = features.detach().double()
    y = losses.detach().double()
    # L-FOCI cannot standardise a constant column (a layer the forward pass never reached,
    # a dead unit): such a slice carries no information about the loss, so drop it first.
    varying = torch.nonzero((X.amax(dim=0) - X.amin(dim=0)) > 0).flatten().cpu().numpy()
    chosen: list[int] = []
    stats: list[float] = []
    if varying.size and float(y.max() - y.min()) > 0:
        cap = 1 if strategy == "cheap" else max_slices
        cap = None if cap is None else min(int(cap), int(varying.size))
        from unlearnbench.dependence import lfoci  # imported on use: the full selection never needs it

        result = lfoci(
            y, X[:, torch.as_tensor(varying, device=X.device)], max_features=cap, seed=_seed_from(generator)
        )
        chosen = [int(varying[i]) for i in result.selected]
        stats = [float(v) for v in np.asarray(result.statistics, dtype=float).ravel()]
    if strategy == "random":
        order = torch.randperm(n_slices, generator=generator)[: len(chosen)]
        return Selection(
            indices=sorted(int(i) for i in order),
            strategy=strategy,
            lfoci_selected=chosen,
            lfoci_statistics=stats,
        )
    return Selection(indices=chosen, strategy=strategy, lfoci_selected=chosen, lfoci_statistics=stats)
