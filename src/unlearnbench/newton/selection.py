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

L-FOCI selects nothing when even its best first pick has a non-positive statistic.
``empty_selection`` decides what follows: ``keep-best`` (default) keeps the slice with the
largest L-CODEC ``T_n(loss, slice)``, as the authors' ``foci`` and ``cheap_foci`` always keep
their first pick (the random selection then draws one slice); ``allow-empty`` keeps nothing,
and the removal leaves the model unchanged. :attr:`Selection.note` says which happened.
With constant losses or no varying slice there is no best slice, and nothing is kept either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

SELECTIONS = ("lfoci", "cheap", "random", "full")
EMPTY_SELECTIONS = ("keep-best", "allow-empty")


@dataclass
class Selection:
    """Selected global slice indices, plus what L-FOCI reported when it ran."""

    indices: list[int]
    strategy: str
    lfoci_selected: list[int] = field(default_factory=list)
    lfoci_statistics: list[float] = field(default_factory=list)
    #: Set when L-FOCI selected nothing: what was done about it (see the module docstring).
    note: str | None = None


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
    empty_selection: str = "keep-best",
) -> Selection:
    """Choose slices with ``strategy``; ``features``/``losses`` come from perturbed copies.

    ``max_slices`` caps L-FOCI's selection (None: until its statistic stops increasing).
    Constant feature columns are never selected; constant losses select nothing.
    ``empty_selection``: what to do when L-FOCI selects nothing (module docstring).
    """
    if strategy not in SELECTIONS:
        raise ValueError(f"unknown selection {strategy!r}; use one of {', '.join(SELECTIONS)}")
    if empty_selection not in EMPTY_SELECTIONS:
        raise ValueError(f"empty_selection must be one of {', '.join(EMPTY_SELECTIONS)}; got {empty_selection!r}")
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
    note = None
    if varying.size and float(y.max() - y.min()) > 0:
        cap = 1 if strategy == "cheap" else max_slices
        cap = None if cap is None else min(int(cap), int(varying.size))
        from unlearnbench.dependence import lfoci  # imported on use: the full selection never needs it

        seed = _seed_from(generator)
        candidates = X[:, torch.as_tensor(varying, device=X.device)]
        result = lfoci(y, candidates, max_features=cap, seed=seed)
        chosen = [int(varying[i]) for i in result.selected]
        stats = [float(v) for v in np.asarray(result.statistics, dtype=float).ravel()]
        if not chosen and empty_selection == "keep-best":
            best, value = best_single_slice(y, candidates, seed)
            chosen, stats = [int(varying[best])], [value]
            note = "L-FOCI selected no slice; kept the best-scoring one (empty_selection: keep-best)"
        elif not chosen:
            note = "L-FOCI selected no slice (empty_selection: allow-empty)"
    else:
        note = "no slice activation varies or the losses are constant: nothing to select"
    if strategy == "random":
        order = torch.randperm(n_slices, generator=generator)[: len(chosen)]
        return Selection(
            indices=sorted(int(i) for i in order),
            strategy=strategy,
            lfoci_selected=chosen,
            lfoci_statistics=stats,
            note=note,
        )
    return Selection(indices=chosen, strategy=strategy, lfoci_selected=chosen, lfoci_statistics=stats, note=note)


def best_single_slice(y: torch.Tensor, X: torch.Tensor, seed: int) -> tuple[int, float]:
    """The column with the largest L-CODEC ``T_n(y, X_j)`` (the lowest index among equals), and that value.

    This is the first pick of FOCI's greedy search, which L-FOCI drops when its value is not
    positive; the authors' code keeps it. Computed column by column with the public
    :func:`~unlearnbench.dependence.lcodec` (one 1-D coefficient each), only in that case.
    """
    from unlearnbench.dependence import lcodec

    values = [lcodec(y, X[:, j], seed=seed) for j in range(X.shape[1])]
    best = int(np.argmax(values))
    return best, float(values[best])
