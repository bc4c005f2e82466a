"""Conditional-independence tests by local permutation, and the Markov-blanket search that uses them.

Table 1 of the L-CODEC paper compares three ways to find the Markov blanket of a target Y
among features X_1..X_m:

* the CIT of Yang et al. 2020 ([44], the ``pycit`` package): a k-nearest-neighbour estimate of
  the conditional mutual information I(X_i; Y | X_C) (KSG, Frenzel-Pompe form, with the
  discrete-continuous mixture correction), whose null distribution comes from *local*
  permutations of Y within neighbourhoods of X_C (Runge 2018);
* the same test with L-CODEC ``T(Y, X_i | X_C)`` as the statistic ("L-CODEC + CIT");
* L-FOCI, which needs no test at all (see :mod:`.foci`).

The search is pycit's: first the *adjacents* (parents and children) by PC-style elimination
with conditioning sets of growing size, drawn from the features still standing, in random
order; then the *co-parents*: every non-adjacent feature that is dependent on Y given the
blanket found so far joins it.

Choices where pycit differs or the paper is silent, made explicit here:

* p-value ``(1 + #{null >= nominal}) / (1 + n_trials)`` (pycit omits the two ones; ours is the
  exact permutation p-value and never 0);
* a feature is independent when ``p >= alpha``; pycit's ``confidence`` is ``1 - alpha``;
* L-CODEC's statistic is evaluated for every permutation without recomputing neighbours:
  permuting Y only permutes its ranks, while the neighbour structure of (X_C, X_i) is fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.special import digamma

from unlearnbench.dependence.codec import (
    LCODEC_NOISE_SCALE,
    as_matrix,
    as_vector,
    check_rows,
    jitter,
    make_generator,
    rank_counts,
    tie_uniforms,
)
from unlearnbench.dependence.knn import nearest_neighbours


@dataclass(frozen=True)
class CITResult:
    """A permutation test of H0: X independent of Y given Z."""

    statistic: float
    p_value: float
    n_trials: int


# test(x (n, dx), y (n,), z (n, dz) or None, rng) -> CITResult
CITest = Callable[[np.ndarray, np.ndarray, "np.ndarray | None", np.random.Generator], CITResult]


# --------------------------------------------------------------------------- permutations


def permutation_p_value(nominal: float, null: np.ndarray) -> float:
    """Exact permutation p-value: ``(1 + #{null >= nominal}) / (1 + len(null))``."""
    null = np.asarray(null, dtype=np.float64)
    return float((1 + np.count_nonzero(null >= nominal)) / (1 + null.size))


def chebyshev_neighbours(z: np.ndarray, k: int) -> np.ndarray:
    """``(n, k)`` indices of each row's ``k`` nearest other rows in the max-norm (pycit's metric)."""
    n = z.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k_perm must be between 1 and n - 1 = {n - 1}, got {k}")
    _, idx = cKDTree(z).query(z, k=k + 1, p=np.inf)
    is_self = idx == np.arange(n)[:, None]
    # move each row's own index (if returned; duplicates may hide it) to the end, then drop the last
    order = np.argsort(is_self, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)[:, :k]


def local_permutation(neighbours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Runge's local permutation: row ``i`` takes the Y of its nearest *unused* Z-neighbour.

    Rows are visited in random order; when all ``k`` neighbours are used, one of them is drawn
    at random. Returns the index array ``perm`` so that ``y[perm]`` is the permuted Y.
    """
    n, k = neighbours.shape
    nbrs = neighbours.tolist()
    fallback = rng.integers(0, k, size=n).tolist()
    used = bytearray(n)
    perm = [0] * n
    for i in rng.permutation(n).tolist():
        for j in nbrs[i]:
            if not used[j]:
                used[j] = 1
                perm[i] = j
                break
        else:
            perm[i] = nbrs[i][fallback[i]]
    return np.asarray(perm, dtype=np.int64)


def _null_permutations(
    z: np.ndarray | None, n: int, n_trials: int, k_perm: int, rng: np.random.Generator
) -> list[np.ndarray]:
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if z is None:  # plain independence test: global shuffles
        return [rng.permutation(n) for _ in range(n_trials)]
    neighbours = chebyshev_neighbours(z, k_perm)
    return [local_permutation(neighbours, rng) for _ in range(n_trials)]


# --------------------------------------------------------------------------- L-CODEC statistic


def lcodec_test(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    *,
    n_trials: int = 100,
    k_perm: int = 5,
    noise_scale: float = LCODEC_NOISE_SCALE,
    jitter_y: bool = False,
) -> CITResult:
    """Permutation test of X independent of Y given Z with statistic L-CODEC ``T(Y, X | Z)``."""
    rng = rng if rng is not None else np.random.default_rng()
    xt, yt, zt = _arrays(x, y, z)
    gen = make_generator(int(rng.integers(2**63 - 1)))
    yj = torch.from_numpy(yt)
    if jitter_y:
        yj = jitter(yj[:, None], gen, noise_scale)[:, 0]
    xj = jitter(torch.from_numpy(xt), gen, noise_scale)
    n = yt.shape[0]
    r, left = (a.numpy() for a in rank_counts(yj))
    if zt is None:
        m = nearest_neighbours(xj, tie_uniforms(n, gen)).numpy()
        nx = None
    else:
        zj = jitter(torch.from_numpy(zt), gen, noise_scale)
        nx = nearest_neighbours(zj, tie_uniforms(n, gen)).numpy()
        m = nearest_neighbours(torch.cat([zj, xj], dim=1), tie_uniforms(n, gen)).numpy()
    nominal = _codec_numpy(r, left, m, nx)
    null = [_codec_numpy(r[p], left[p], m, nx) for p in _null_permutations(zt, n, n_trials, k_perm, rng)]
    return CITResult(nominal, permutation_p_value(nominal, np.asarray(null)), n_trials)


def _codec_numpy(r: np.ndarray, left: np.ndarray, m: np.ndarray, nx: np.ndarray | None) -> float:
    """:func:`~unlearnbench.dependence.codec.codec_from_neighbours` in numpy (cheap per permutation)."""
    n = r.shape[0]
    near = int(np.minimum(r, r[m]).sum())
    if nx is None:
        num = n * near - int((left * left).sum())
        den = int((left * (n - left)).sum())
    else:
        near_x = np.minimum(r, r[nx])
        num = near - int(near_x.sum())
        den = int((r - near_x).sum())
    return 1.0 if den == 0 else num / den


# --------------------------------------------------------------------------- kNN mutual information


def ksg_cmi(x: np.ndarray, y: np.ndarray, z: np.ndarray, k: int = 5) -> float:
    """KSG estimate of I(X; Y | Z) in the max-norm (Frenzel & Pompe 2007), mixture-corrected.

    ``I = mean(psi(k_i) + psi(n_z + 1) - psi(n_xz + 1) - psi(n_yz + 1))`` where ``rho_i`` is the
    distance to the k-th neighbour in (X, Z, Y) and the ``n_*`` count other rows strictly within
    ``rho_i`` in each subspace. Where ``rho_i = 0`` (repeated points), the counts include distance
    0 and ``k_i`` is the number of rows at distance 0 *including row i itself* (Gao et al. 2017),
    exactly as pycit's ``mixed_cmi`` counts it (its ``radius_neighbors`` query on explicit points
    returns the point itself); tested against pycit 0.0.7's values in
    ``tests/fixtures/pycit_reference``.
    """
    xt, yt, zt = _arrays(x, y, z)
    return _ksg_cmi(xt, yt[:, None], zt, k, _Trees(xt, zt))


def ksg_mi(x: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    """KSG estimate of I(X; Y) in the max-norm, with the same mixture correction as :func:`ksg_cmi`."""
    xt, yt, _ = _arrays(x, y, None)
    return _ksg_mi(xt, yt[:, None], k, cKDTree(xt))


class _Trees:
    """The trees of a CMI test that do not depend on Y (built once, reused for every permutation)."""

    def __init__(self, x: np.ndarray, z: np.ndarray | None) -> None:
        self.x = x
        self.z = z
        self.xz = x if z is None else np.hstack([x, z])
        self.tree_xz = cKDTree(self.xz)
        self.tree_z = None if z is None else cKDTree(z)


def _radii(joint: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n = joint.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and n - 1 = {n - 1}, got {k}")
    tree = cKDTree(joint)
    dist, _ = tree.query(joint, k=k + 1, p=np.inf)  # includes the row itself at distance 0
    rho = dist[:, k]
    k_i = np.full(n, float(k))
    zero = rho == 0
    if zero.any():
        # the copies of row i, row i included (pycit's k_list); the n_* counts below exclude it
        k_i[zero] = tree.query_ball_point(joint[zero], 0.0, p=np.inf, return_length=True)
    radius = np.where(zero, 0.0, np.nextafter(rho, 0.0))  # strictly inside rho (closed ball at 0)
    return radius, k_i


def _count(tree: cKDTree, points: np.ndarray, radius: np.ndarray) -> np.ndarray:
    return tree.query_ball_point(points, radius, p=np.inf, return_length=True) - 1


def _ksg_cmi(x: np.ndarray, y: np.ndarray, z: np.ndarray, k: int, trees: _Trees) -> float:
    radius, k_i = _radii(np.hstack([x, z, y]), k)
    yz = np.hstack([y, z])
    n_xz = _count(trees.tree_xz, trees.xz, radius)
    n_yz = _count(cKDTree(yz), yz, radius)
    n_z = _count(trees.tree_z, z, radius)
    return float(np.mean(digamma(k_i) + digamma(n_z + 1) - digamma(n_xz + 1) - digamma(n_yz + 1)))


def _ksg_mi(x: np.ndarray, y: np.ndarray, k: int, tree_x: cKDTree) -> float:
    n = x.shape[0]
    radius, k_i = _radii(np.hstack([x, y]), k)
    n_x = _count(tree_x, x, radius)
    n_y = _count(cKDTree(y), y, radius)
    return float(np.mean(digamma(k_i) + digamma(n) - digamma(n_x + 1) - digamma(n_y + 1)))


def cmi_test(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    *,
    k: int = 5,
    n_trials: int = 100,
    k_perm: int = 5,
) -> CITResult:
    """The baseline CIT of Yang et al. 2020: KSG (C)MI statistic, local-permutation null."""
    rng = rng if rng is not None else np.random.default_rng()
    xt, yt, zt = _arrays(x, y, z)
    n = yt.shape[0]
    trees = _Trees(xt, zt)

    def statistic(yv: np.ndarray) -> float:
        if zt is None:
            return _ksg_mi(xt, yv[:, None], k, trees.tree_xz)
        return _ksg_cmi(xt, yv[:, None], zt, k, trees)

    nominal = statistic(yt)
    null = [statistic(yt[p]) for p in _null_permutations(zt, n, n_trials, k_perm, rng)]
    return CITResult(nominal, permutation_p_value(nominal, np.asarray(null)), n_trials)


# --------------------------------------------------------------------------- Markov blanket


def markov_blanket(
    features: Sequence[np.ndarray],
    y: np.ndarray,
    test: CITest,
    *,
    alpha: float = 0.05,
    max_conditioning: int | None = None,
    seed: int | None = None,
) -> list[int]:
    """Indices of the features in the Markov blanket of ``y`` (adjacents, then co-parents).

    ``features[i]`` is the ``(n, d_i)`` (or ``(n,)``) data of feature ``i``; ``test(x, y, z, rng)``
    returns a :class:`CITResult` for H0: x independent of y given z (``z`` None: unconditional).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    blocks = [as_matrix(f, f"features[{i}]").numpy() for i, f in enumerate(features)]
    yv = as_vector(y, "y").numpy()
    if not blocks:
        raise ValueError("features is empty")
    for i, b in enumerate(blocks):
        if b.shape[0] != yv.shape[0]:
            raise ValueError(f"features[{i}] has {b.shape[0]} rows but y has {yv.shape[0]}")
    rng = np.random.default_rng(seed)
    m = len(blocks)
    top = m - 1 if max_conditioning is None else min(int(max_conditioning), m - 1)

    def independent(i: int, cond: Sequence[int]) -> bool:
        z = np.hstack([blocks[j] for j in sorted(cond)]) if cond else None
        return test(blocks[i], yv, z, rng).p_value >= alpha

    adjacents = rng.permutation(m).tolist()
    for size in range(top + 1):
        pos = 0
        while pos < len(adjacents):
            feature = adjacents[pos]
            others = [j for j in adjacents if j != feature]
            subsets = [sorted(c) for c in combinations(others, size)]
            rng.shuffle(subsets)
            if any(independent(feature, cond) for cond in subsets):
                adjacents.remove(feature)
            else:
                pos += 1
    blanket = sorted(adjacents)
    non_adjacent = [j for j in range(m) if j not in adjacents]
    rng.shuffle(non_adjacent)
    for feature in non_adjacent:
        if not independent(feature, blanket):
            blanket = sorted([*blanket, feature])
    return blanket


# --------------------------------------------------------------------------- helpers


def _arrays(x: object, y: object, z: object | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    xt = as_matrix(x, "x").numpy()
    yt = as_vector(y, "y").numpy()
    zt = None if z is None else as_matrix(z, "z").numpy()
    check_rows(yt.shape[0], {"x": xt, "z": zt}, minimum=3, who="a conditional-independence test")
    return xt, yt, zt
