"""The 3D-Bullseye of Yang et al. 2020 (Sec. 5.3), as the L-CODEC paper (Table 1) uses it.

Reading of the structure (Yang et al.'s DAG, also in the ``bullseye_network`` generator that the
L-CODEC authors ship with their code; the paper itself only cites [44]):

* six latent radii; ``r1`` is a bullseye radius: with probability 1/2 uniform on [0.25, 0.5],
  otherwise uniform on [0.75, 1.0];
* ``r2 = r1 + e``, ``r3 = r1 + e``, ``r4 = r3 + e``, ``r5 = (r2 + r4) / 2 + e``,
  ``Y = (r3 + r5) / 2 + e``, ``r6 = (r4 + Y) / 2 + e``, every ``e`` independent uniform on
  ``[-eps, eps]`` with ``eps = 0.075``;
* the observed feature ``i`` is a point on the sphere of radius ``r_i`` in ``R^dim`` (dim = 3):
  ``r_i`` times a uniformly random direction, so no single coordinate carries the radius.

The Markov blanket of Y is its parents ``r3, r5``, its child ``r6`` and the child's other parent
``r4``: features {2, 3, 4, 5} (0-based); ``r1`` and ``r2`` are outside it.

Feature maps ("Feature Maps" columns of Table 1). Yang et al. learn one small encoder per
feature, mapping its 3-D point to one number, jointly with a decoder that predicts Y from
all codes; the L-CODEC authors reuse that model. :func:`learn_feature_maps` does the same at
a small scale: per-feature MLP encoders (dim -> hidden -> 1, ELU), a decoder MLP on the six
codes plus their keep-masks, squared error, and random *feature dropout* (each code is kept
with probability ``keep_prob`` per sample; at least one is kept). The dropout stands in for
Yang et al.'s regulariser: it forces every code to be predictive of Y on its own, so that a
feature's code recovers (a function of) its radius instead of idling while another feature's
code does the work. A fixed random map would not do: on a sphere a random function of the
point mixes the radius with the direction, which is pure noise here. Training is seeded and
takes seconds on a CPU; the codes are standardised before use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

N_FEATURES = 6
FEATURE_NAMES = ("r1", "r2", "r3", "r4", "r5", "r6")
MARKOV_BLANKET = frozenset({2, 3, 4, 5})
NON_BLANKET = frozenset({0, 1})


@dataclass(frozen=True)
class BullseyeData:
    """One sample: ``points`` ``(n, dim, 6)`` (feature ``i`` is ``points[:, :, i]``), ``y`` ``(n,)``."""

    radii: np.ndarray  # (n, 6) latent radii r1..r6
    points: np.ndarray  # (n, dim, 6) observed features
    y: np.ndarray  # (n,)

    def features(self) -> list[np.ndarray]:
        """The six observed features as ``(n, dim)`` blocks."""
        return [self.points[:, :, i] for i in range(self.points.shape[2])]


def make_bullseye(n: int = 5000, dim: int = 3, eps: float = 0.075, seed: int | None = None) -> BullseyeData:
    """Draw ``n`` samples of the 3D-Bullseye network (see the module docstring)."""
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    if dim < 1:
        raise ValueError(f"dim must be at least 1, got {dim}")
    if eps < 0:
        raise ValueError(f"eps must be non-negative, got {eps}")
    rng = np.random.default_rng(seed)

    def noise() -> np.ndarray:
        return rng.uniform(-eps, eps, size=n)

    inner = rng.random(n) < 0.5
    r = np.zeros((n, N_FEATURES))
    r[:, 0] = np.where(inner, rng.uniform(0.25, 0.5, size=n), rng.uniform(0.75, 1.0, size=n))
    r[:, 1] = r[:, 0] + noise()
    r[:, 2] = r[:, 0] + noise()
    r[:, 3] = r[:, 2] + noise()
    r[:, 4] = 0.5 * r[:, 1] + 0.5 * r[:, 3] + noise()
    y = 0.5 * r[:, 2] + 0.5 * r[:, 4] + noise()
    r[:, 5] = 0.5 * r[:, 3] + 0.5 * y + noise()
    directions = rng.normal(size=(n, dim, N_FEATURES))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return BullseyeData(radii=r, points=directions * r[:, None, :], y=y)


def selection_rates(
    selected: Iterable[int], blanket: frozenset[int] = MARKOV_BLANKET, n_features: int = N_FEATURES
) -> tuple[float, float]:
    """True-positive rate (share of the blanket selected) and false-positive rate (share of the rest)."""
    chosen = set(int(i) for i in selected)
    outside = set(range(n_features)) - set(blanket)
    if not chosen <= set(range(n_features)):
        raise ValueError(f"selected features {sorted(chosen)} are not all in 0..{n_features - 1}")
    tpr = len(chosen & set(blanket)) / len(blanket)
    fpr = len(chosen & outside) / len(outside) if outside else 0.0
    return tpr, fpr


def standardize(a: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per column (pycit's ``standardize``; constant columns left at 0)."""
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(sd == 0, 1.0, sd)


# --------------------------------------------------------------------------- feature maps


class FeatureMapModel(nn.Module):
    """Per-feature encoders (points of feature i -> one code) and a decoder from codes to Y."""

    def __init__(
        self, dim: int, n_features: int = N_FEATURES, hidden: int = 40, decoder_hidden: int = 400
    ) -> None:
        super().__init__()
        scale = 1.0 / np.sqrt(dim)
        self.w1 = nn.Parameter(torch.randn(n_features, dim, hidden) * scale)
        self.b1 = nn.Parameter(torch.zeros(n_features, hidden))
        self.w2 = nn.Parameter(torch.randn(n_features, hidden) / np.sqrt(hidden))
        self.b2 = nn.Parameter(torch.zeros(n_features))
        self.decoder = nn.Sequential(
            nn.Linear(2 * n_features, decoder_hidden), nn.ELU(), nn.Linear(decoder_hidden, 1)
        )

    def encode(self, points: torch.Tensor) -> torch.Tensor:
        """``(n, dim, m)`` points -> ``(n, m)`` codes."""
        h = torch.nn.functional.elu(torch.einsum("ndm,mdh->nmh", points, self.w1) + self.b1)
        return (h * self.w2).sum(dim=2) + self.b2

    def predict(self, codes: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([codes * keep, keep], dim=1))[:, 0]


def learn_feature_maps(
    data: BullseyeData,
    *,
    seed: int,
    epochs: int = 50,
    batch_size: int = 50,
    lr: float = 1e-3,
    hidden: int = 40,
    decoder_hidden: int = 400,
    keep_prob: float = 0.5,
) -> np.ndarray:
    """Train the feature-map model on ``data`` and return the standardised ``(n, 6)`` codes."""
    if not 0 < keep_prob <= 1:
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be positive, got {epochs} and {batch_size}")
    gen = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))  # parameter initialisation
    points = torch.as_tensor(standardize_points(data.points), dtype=torch.float32)
    y = torch.as_tensor(standardize(data.y[:, None])[:, 0], dtype=torch.float32)
    n, dim, m = points.shape
    model = FeatureMapModel(dim, m, hidden, decoder_hidden)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            keep = (torch.rand(idx.shape[0], m, generator=gen) < keep_prob).float()
            none = keep.sum(dim=1) == 0
            if bool(none.any()):  # keep at least one code per sample
                keep[none, torch.randint(0, m, (int(none.sum()),), generator=gen)] = 1.0
            loss = ((model.predict(model.encode(points[idx]), keep) - y[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        codes = model.encode(points).double().numpy()
    return standardize(codes)


def standardize_points(points: np.ndarray) -> np.ndarray:
    """:func:`standardize` of every coordinate of every feature of ``(n, dim, m)`` points."""
    n = points.shape[0]
    return standardize(points.reshape(n, -1)).reshape(points.shape)
