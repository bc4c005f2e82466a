"""Re-identification metrics through torchreid's own evaluation (mAP, CMC Rank-k).

Features are the model's retrieval embeddings (:meth:`ReidNet.embed`), distances
torchreid's ``compute_distance_matrix`` and the ranking ``evaluate_rank`` with the
Market-1501 protocol (gallery images of the query's identity seen by the query's camera
are ignored). torchreid's Python fallback is used when its Cython extension is absent;
both compute the same numbers.

:func:`identity_retrieval` measures how well the model still *recognises a removed
identity*: each of its images queries a gallery of training images (the identity's other
images among everyone else's). A query without a cross-camera match is skipped, as
torchreid does; with none left the result is ``None``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from unlearnbench.batching import eval_outputs


def _torchreid_metrics():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Cython evaluation is unavailable": the Python path is exact
        from torchreid.reid import metrics
    return metrics


@torch.no_grad()
def extract_features(
    model: nn.Module, images: torch.Tensor, *, batch_size: int = 128, device: str = "cpu"
) -> torch.Tensor:
    """``[N, D]`` embeddings of ``images`` (eval mode), on the CPU."""
    return eval_outputs(model, model.embed, images, batch_size=batch_size, device=device)


def retrieval_metrics(
    query_features: torch.Tensor,
    gallery_features: torch.Tensor,
    query_pids: np.ndarray,
    gallery_pids: np.ndarray,
    query_camids: np.ndarray,
    gallery_camids: np.ndarray,
    *,
    metric: str = "euclidean",
    ranks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """``{"mAP": ..., "rank1": ..., ...}`` by torchreid's ``evaluate_rank`` (Market-1501 protocol)."""
    metrics = _torchreid_metrics()
    if len(query_features) == 0 or len(gallery_features) == 0:
        raise ValueError("retrieval needs at least one query and one gallery image")
    distances = metrics.compute_distance_matrix(
        query_features.float(), gallery_features.float(), metric
    ).numpy()
    cmc, mean_ap = metrics.evaluate_rank(
        distances,
        np.asarray(query_pids),
        np.asarray(gallery_pids),
        np.asarray(query_camids),
        np.asarray(gallery_camids),
        max_rank=max(ranks),
    )
    out = {"mAP": float(mean_ap)}
    for k in ranks:
        out[f"rank{k}"] = float(cmc[min(k, len(cmc)) - 1])
    return out


def identity_retrieval(
    features: torch.Tensor, pids: np.ndarray, camids: np.ndarray, identity: int, *, metric: str = "euclidean"
) -> dict[str, float] | None:
    """mAP / Rank-1 of ``identity``'s images querying all the other images of the same set."""
    pids, camids = np.asarray(pids), np.asarray(camids)
    rows = np.flatnonzero(pids == identity)
    if rows.size == 0:
        raise ValueError(f"identity {identity} has no image")
    results = []
    for row in rows:
        others = np.flatnonzero(np.arange(len(pids)) != row)
        if not np.any((pids[others] == identity) & (camids[others] != camids[row])):
            continue
        results.append(
            retrieval_metrics(
                features[[row]],
                features[others],
                pids[[row]],
                pids[others],
                camids[[row]],
                camids[others],
                metric=metric,
                ranks=(1,),
            )
        )
    if not results:
        return None
    return {key: float(np.mean([r[key] for r in results])) for key in results[0]}
