"""Membership inference: can the removed samples still be told apart from unseen ones?

The loss-threshold attack (Yeom et al. 2018) scores each sample by its negative loss
(training members tend to have lower loss) and is evaluated threshold-free as the ROC
AUC of "forget" (positives) against held-out samples (negatives). 0.5 means the attacker
cannot distinguish removed samples from data the model never saw, which is what a model
retrained without them achieves in expectation; values above 0.5 mean the removed
samples are still recognisable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import Dataset

from unlearnbench.batching import as_tensors, iter_batches


@torch.no_grad()
def per_sample_cross_entropy(
    model: nn.Module, dataset: Dataset, *, batch_size: int = 1024, device: str = "cpu"
) -> np.ndarray:
    """Cross-entropy of every sample (classifiers)."""
    data = as_tensors(dataset)
    was_training = model.training
    model.eval()
    try:
        losses = [
            F.cross_entropy(model(x.to(device)), y.to(device), reduction="none").cpu()
            for x, y, *_ in iter_batches(data, batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(losses).double().numpy()


def loss_threshold_auc(forget_losses: Any, heldout_losses: Any) -> float:
    """ROC AUC of the score ``-loss`` for forget (label 1) against held-out (label 0) samples."""
    forget = np.asarray(forget_losses, dtype=float).ravel()
    heldout = np.asarray(heldout_losses, dtype=float).ravel()
    if forget.size == 0 or heldout.size == 0:
        raise ValueError("membership inference needs at least one forget and one held-out sample")
    labels = np.concatenate([np.ones(forget.size), np.zeros(heldout.size)])
    scores = -np.concatenate([forget, heldout])
    return float(roc_auc_score(labels, scores))


def membership_auc(
    model: nn.Module,
    forget: Dataset,
    heldout: Dataset,
    *,
    loss: Callable[..., np.ndarray] = per_sample_cross_entropy,
    device: str = "cpu",
) -> float:
    """Loss-threshold membership-inference AUC of ``model`` on ``forget`` vs ``heldout``."""
    return loss_threshold_auc(loss(model, forget, device=device), loss(model, heldout, device=device))
