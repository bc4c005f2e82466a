"""FOCI and L-FOCI: greedy forward selection with CODEC (Azadkia & Chatterjee, Section 5).

The algorithm is the one of the R package FOCI 0.1.3 (``foci_main``), step for step:

1. standardise every column of X (``(x - mean) / sd``, sd with ``n - 1``; a constant column
   is an error), as ``standardize = "scale"`` does;
2. at each step, for every column ``j`` not yet selected, compute the numerator
   ``Q_n(Y, X_S + j) = (1/n^2) sum_i (min(R_i, R_M(i)) - L_i^2 / n)`` with ``M`` the nearest
   neighbour in the columns ``S + j``; pick the largest (the lowest index among equals);
3. stop before adding it when ``Q_n`` did not increase (``Q_{k+1} <= Q_k``; at the first step
   ``Q_1 <= 0`` selects nothing). This is Azadkia and Chatterjee's rule "stop at the first
   non-positive conditional coefficient", because ``T(Y, X_j | X_S)`` has numerator
   ``Q_n(Y, X_S + j) - Q_n(Y, X_S)``;
4. report ``stepT = Q_k / S_n(Y)``, the cumulative coefficient ``T_n(Y, X_S)`` after each step.

``Q`` is kept as the exact integer ``n sum min(R_i, R_M(i)) - sum L_i^2`` (``n^3 Q_n``), so
comparisons between candidates are exact.

Two evaluations of a step are provided. :func:`foci` computes the neighbours of all
candidates in one batched call (:func:`~unlearnbench.dependence.knn.candidate_nearest_neighbours`,
chunked, on the data's device). :func:`foci_reference` recomputes a full pairwise distance
matrix for each candidate in turn, the way the R package and the L-CODEC authors' code do;
it exists for tests and for the speed benchmark. Both draw the same tie-breaking numbers
(one uniform per row and step), so they select the same columns even on discrete data.

L-FOCI (:func:`lfoci`) is FOCI on X jittered once, after standardisation, as L-CODEC does
(Y only with ``jitter_y=True``; see :mod:`.codec` for why that is not the default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numba import njit

from unlearnbench.dependence.clusters import looks_clustered
from unlearnbench.dependence.codec import (
    LCODEC_NOISE_SCALE,
    as_matrix,
    as_vector,
    jitter,
    make_generator,
    pick_device,
    rank_counts,
    tie_uniforms,
)
from unlearnbench.dependence.grid import Outputs, RankedColumns, grid_neighbours, grid_serves, outputs
from unlearnbench.dependence.groups import CodedTable, grouped_neighbours, looks_discrete
from unlearnbench.dependence.knn import (
    DEFAULT_MAX_ELEMENTS,
    candidate_nearest_neighbours,
    nearest_neighbours,
    resolve_flagged,
)

Tensor = torch.Tensor
# Candidates per batched call: bounds the (candidates x n) index matrix a step holds at once.
CANDIDATE_BLOCK = 4096
# Rows of least rank are left out of the neighbour search from this share of all rows on. Not
# measured: below it (a continuous y skips one row) the saving is under 1%, and the indexed search
# of the other rows is left untried there, so the Gaussian paths stay as timed against R.
MIN_SKIPPED_SHARE = 0.01


@dataclass
class FociResult:
    """Selected columns (0-based, in selection order) and ``T_n(Y, X_S)`` after each step."""

    selected: list[int] = field(default_factory=list)
    statistics: list[float] = field(default_factory=list)


# One greedy step on a fixed (y, X): (ranks R of y, selected columns, candidate columns, tie uniforms)
# -> sum_i min(R_i, R_M(i)) per candidate, shape (c,)
StepScorer = Callable[[Tensor, list[int], list[int], Tensor], Tensor]


def foci(
    y: Any,
    X: Any,
    *,
    standardize: bool = True,
    max_features: int | None = None,
    seed: int | None = None,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    strategy: str = "auto",
) -> FociResult:
    """FOCI with all candidates of a step evaluated in one batched exact-neighbour computation.

    ``strategy`` picks the neighbour path (:data:`~unlearnbench.dependence.knn.STRATEGIES`); the
    default chooses per candidate by the shape of the data. Every path gives the same result.
    """
    yt, xt = _prepare(y, X, standardize)
    return _greedy(yt, xt, max_features, make_generator(seed), _scorer(xt, max_elements, strategy))


def lfoci(
    y: Any,
    X: Any,
    *,
    standardize: bool = True,
    max_features: int | None = None,
    seed: int | None = None,
    noise_scale: float = LCODEC_NOISE_SCALE,
    jitter_y: bool = False,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    strategy: str = "auto",
) -> FociResult:
    """L-FOCI: :func:`foci` on X plus L-CODEC's tie-breaking noise (added once, after scaling)."""
    yt, xt, gen = _prepare_jittered(y, X, standardize, seed, noise_scale, jitter_y)
    return _greedy(yt, xt, max_features, gen, _scorer(xt, max_elements, strategy))


def foci_reference(
    y: Any,
    X: Any,
    *,
    standardize: bool = True,
    max_features: int | None = None,
    seed: int | None = None,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> FociResult:
    """FOCI evaluating one candidate at a time with a full distance matrix (reference and baseline)."""
    yt, xt = _prepare(y, X, standardize)
    return _greedy(yt, xt, max_features, make_generator(seed), _one_at_a_time_scorer(yt, xt, max_elements))


def lfoci_reference(
    y: Any,
    X: Any,
    *,
    standardize: bool = True,
    max_features: int | None = None,
    seed: int | None = None,
    noise_scale: float = LCODEC_NOISE_SCALE,
    jitter_y: bool = False,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> FociResult:
    """L-FOCI evaluated one candidate at a time (same noise and ties as :func:`lfoci`)."""
    yt, xt, gen = _prepare_jittered(y, X, standardize, seed, noise_scale, jitter_y)
    return _greedy(yt, xt, max_features, gen, _one_at_a_time_scorer(yt, xt, max_elements))


# --------------------------------------------------------------------------- the greedy loop


def _greedy(
    y: Tensor, X: Tensor, max_features: int | None, gen: torch.Generator, scorer: StepScorer
) -> FociResult:
    n, p = X.shape
    limit = p if max_features is None else int(max_features)
    if limit < 1 or limit > p:
        raise ValueError(
            f"max_features must be between 1 and the number of columns ({p}), got {max_features}"
        )
    r, left = rank_counts(y)
    offset = int((left * left).sum().item())
    s_n = int((left * (n - left)).sum().item())  # n^3 S_n(Y)
    selected: list[int] = []
    q_values: list[int] = []
    remaining = list(range(p))
    while len(selected) < limit:
        u = tie_uniforms(n, gen, X.device)
        scores = scorer(r, selected, remaining, u)  # sum_i min(R_i, R_M(i)) per candidate
        best = int(torch.argmax(scores).item())  # first maximum: lowest column index among equals
        q = n * int(scores[best].item()) - offset
        if q <= (q_values[-1] if q_values else 0):
            break
        selected.append(remaining.pop(best))
        q_values.append(q)
    return FociResult(selected=selected, statistics=[q / s_n for q in q_values])


def _scorer(X: Tensor, max_elements: int, strategy: str) -> StepScorer:
    """On a CPU (``auto``): the grouped scorer for a discrete table, the grid scorer for the first
    steps on a continuous one; otherwise (a named strategy, a GPU, a table mixing discrete and
    continuous columns, later steps) the batched neighbour search, which picks a path per candidate."""
    batched = _batched_scorer(X, max_elements, strategy)
    if strategy != "auto" or X.device.type != "cpu":
        return batched
    table = X.numpy()
    coded = CodedTable.of(table)
    if coded is not None:
        return _grouped_scorer(coded, batched)
    if any(looks_discrete(table[:, k]) for k in range(table.shape[1])):
        return batched  # mixed: the batched search groups the discrete candidates, grids the others
    clustered = all(looks_clustered(table[:, k]) for k in range(table.shape[1]))
    return _grid_scorer(X, RankedColumns(table), clustered, max_elements, batched)


def rows_needing_neighbours(r: Tensor) -> Tensor | None:
    """The rows whose neighbour can change a step's score (increasing indices), None for all.

    A row of the least rank ``R_min`` adds ``min(R_min, R_M(i)) = R_min`` whatever its neighbour
    ``M(i)`` is, since no rank is lower. With a continuous ``y`` that is one row; with a binary
    ``y`` (every Fig. 3 target) it is the whole lower class, so only the rows of the upper class
    need a neighbour search: a share equal to the attribute's frequency (0.02 to 0.84 on CelebA,
    0.23 on average). The score is the same sum, term for term. None also when under
    :data:`MIN_SKIPPED_SHARE` of the rows could be skipped.
    """
    needed = r > r.min()
    if int(needed.sum()) > (1.0 - MIN_SKIPPED_SHARE) * r.shape[0]:
        return None  # a continuous y: one row to skip (see MIN_SKIPPED_SHARE)
    return needed.nonzero(as_tuple=True)[0]


def _batched_scorer(X: Tensor, max_elements: int, strategy: str = "auto") -> StepScorer:
    def score(r: Tensor, selected: list[int], remaining: list[int], u: Tensor) -> Tensor:
        base, cands = X[:, selected], X[:, remaining]
        asked = rows_needing_neighbours(r)
        classes = r > r.min() if torch.unique(r).numel() == 2 else None  # a binary y: its two ranks
        out = torch.empty(cands.shape[1], dtype=torch.long, device=cands.device)
        for start in range(0, cands.shape[1], CANDIDATE_BLOCK):
            stop = min(cands.shape[1], start + CANDIDATE_BLOCK)
            m = candidate_nearest_neighbours(
                base,
                cands[:, start:stop],
                u,
                asked=asked,
                classes=classes,
                max_elements=max_elements,
                strategy=strategy,
            )  # rows not asked are their own neighbour: min(R_i, R_i) adds R_i, as any neighbour
            # would; with ``classes`` an answer is a row of the neighbour's class: the same rank
            out[start:stop] = neighbour_rank_sums(r, m)
        return out

    return score


def _grouped_scorer(coded: CodedTable, fallback: StepScorer) -> StepScorer:
    """Discrete data: each candidate's neighbours from the tie groups and its score, one at a time.

    The columns are coded once per call and the base groups once per step; each candidate's
    neighbours (:func:`~unlearnbench.dependence.groups.grouped_neighbours`, the ``groups`` path
    of the neighbour search) are reduced to its score while they are in cache. Candidates that
    would make too many patterns go to ``fallback``. Same neighbours, so the same scores.
    """

    def score(r: Tensor, selected: list[int], remaining: list[int], u: Tensor) -> Tensor:
        groups = coded.groups(selected)
        r_np, u_np = r.numpy(), u.numpy()
        out = torch.empty(len(remaining), dtype=torch.long)
        rest = []
        for i, j in enumerate(remaining):
            values, codes = coded.columns[j]
            if not groups.fits(values):
                rest.append(i)
                continue
            m, _ = grouped_neighbours(groups, values, codes, u_np)
            out[i] = int(np.minimum(r_np, r_np[m]).sum())
        if rest:
            out[rest] = fallback(r, selected, [remaining[i] for i in rest], u)
        return out

    return score


def _grid_scorer(
    X: Tensor, ranked: RankedColumns, clustered: bool, max_elements: int, fallback: StepScorer
) -> StepScorer:
    """Continuous data: the :mod:`.grid` path with every column sorted once for all steps.

    Steps the grid does not serve (:func:`~unlearnbench.dependence.grid.grid_serves`: too many
    selected columns, or a ``clustered`` table past the first two steps) go to ``fallback``.
    Exact ties the grid reports are resolved by the dense rule of :mod:`.knn`, so the neighbours
    (and the scores) are those of every other path.
    """

    buffers: list[Outputs] = []  # one pair of answer arrays for every step (see grid.outputs)

    def score(r: Tensor, selected: list[int], remaining: list[int], u: Tensor) -> Tensor:
        if not grid_serves(len(selected), clustered):
            return fallback(r, selected, remaining, u)
        if not buffers:
            buffers.append(outputs(len(remaining), ranked.n))
        asked = rows_needing_neighbours(r)
        mask = None
        if asked is not None:
            mask = np.zeros(ranked.n, dtype=np.bool_)
            mask[asked.numpy()] = True
        found, tied = grid_neighbours(ranked, selected, remaining, buffers[0], mask)
        m, flagged = torch.from_numpy(found), torch.from_numpy(tied)
        if bool(flagged.any()):
            resolve_flagged(X[:, selected], X[:, remaining], u, m, flagged, max_elements)
        return neighbour_rank_sums(r, m)

    return score


def neighbour_rank_sums(r: Tensor, m: Tensor | np.ndarray) -> Tensor:
    """``sum_i min(R_i, R_M(i))`` for each candidate's neighbours ``M`` (a row of ``m``, ``(c, n)``): ``(c,)``.

    On a CPU one compiled pass: ``torch.minimum(r, r[m])`` would first write two ``c x n`` int64
    temporaries (320 MB each for 2,000 candidates of 20,000 rows), and their fresh pages cost more
    than the sums (measured: 2.1 s of a 20,000 x 2,000 FOCI step of 8 s).
    """
    if isinstance(m, Tensor) and m.device.type != "cpu":
        return torch.minimum(r[None, :], r[m]).sum(dim=1)
    m_np = m.numpy() if isinstance(m, Tensor) else m
    r_np = np.ascontiguousarray(r.cpu().numpy(), dtype=np.int64)
    return torch.from_numpy(_rank_sums_kernel(r_np, np.ascontiguousarray(m_np, dtype=np.int64)))


@njit(cache=True)
def _rank_sums_kernel(r, m):  # noqa: ANN001, ANN202
    out = np.zeros(m.shape[0], dtype=np.int64)
    for j in range(m.shape[0]):
        total = 0
        for i in range(m.shape[1]):
            total += min(r[i], r[m[j, i]])
        out[j] = total
    return out


def _one_at_a_time_scorer(y: Tensor, X: Tensor, max_elements: int) -> StepScorer:
    """The authors' loop: one CODEC call per candidate, recomputing ranks and both neighbour sets.

    Like ``codec3(X_j, Y, X_S)`` in the L-CODEC code (and one ``.estimateQ`` call per candidate in
    the R package), every candidate gets a fresh full distance matrix; only the neighbour search
    is exact here (dense, with the same tie rule as the batched path), so the selections agree.
    """

    def score(r: Tensor, selected: list[int], remaining: list[int], u: Tensor) -> Tensor:
        base, cands = X[:, selected], X[:, remaining]
        out = torch.empty(cands.shape[1], dtype=torch.long, device=cands.device)
        for j in range(cands.shape[1]):
            ranks, _ = rank_counts(y)
            m = nearest_neighbours(
                torch.cat([base, cands[:, j : j + 1]], dim=1), u, strategy="dense", max_elements=max_elements
            )
            if base.shape[1] > 0:  # the conditional coefficient's denominator needs N(i) in X_S
                nearest_neighbours(base, u, strategy="dense", max_elements=max_elements)
            out[j] = torch.minimum(ranks, ranks[m]).sum()
        return out

    return score


# --------------------------------------------------------------------------- input handling


def _prepare(y: Any, X: Any, standardize: bool) -> tuple[Tensor, Tensor]:
    device = pick_device([y, X])
    yt = as_vector(y, "y", device)
    xt = as_matrix(X, "X", device)
    if xt.shape[0] != yt.shape[0]:
        raise ValueError(f"y has {yt.shape[0]} rows but X has {xt.shape[0]}")
    if yt.shape[0] < 2:
        raise ValueError(f"FOCI needs at least 2 rows, got {yt.shape[0]}")
    if standardize:
        xt = standardize_columns(xt)
    return yt, xt


def _prepare_jittered(
    y: Any, X: Any, standardize: bool, seed: int | None, noise_scale: float, jitter_y: bool
) -> tuple[Tensor, Tensor, torch.Generator]:
    """L-FOCI's inputs: prepared, then jittered once (y first, only with ``jitter_y``), and the
    generator whose later draws break the ties, so both evaluations see the same numbers."""
    yt, xt = _prepare(y, X, standardize)
    gen = make_generator(seed)
    if jitter_y:
        yt = jitter(yt[:, None], gen, noise_scale)[:, 0]
    xt = jitter(xt, gen, noise_scale)
    return yt, xt, gen


def standardize_columns(X: Tensor) -> Tensor:
    """``(x - mean) / sd`` per column (sd with ``n - 1``), as R's FOCI ``standardize = "scale"``."""
    constant = X.amax(dim=0) == X.amin(dim=0)  # no table-sized temporary
    if bool(constant.any()):
        cols = constant.nonzero(as_tuple=True)[0].tolist()
        raise ValueError(
            f"column(s) {cols} of X are constant; FOCI cannot standardise them (drop them first)"
        )
    mean = X.mean(dim=0, keepdim=True)
    sd = X.std(dim=0, unbiased=True, keepdim=True)
    return (X - mean).div_(sd)
