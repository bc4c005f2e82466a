"""Membership inference: can the removed samples still be told apart from unseen ones?

Two attacks, both read off the model's outputs only:

- **loss threshold** (Yeom et al. 2018): each sample is scored by its negative loss
  (training members tend to have lower loss), evaluated threshold-free as the ROC AUC of
  "forget" (positives) against held-out samples (negatives). 0.5 means the attacker cannot
  distinguish removed samples from data the model never saw, which is what a model
  retrained without them achieves in expectation; values above 0.5 mean the removed
  samples are still recognisable.
- **SVC attack** of the unlearning literature (SalUn, Fan et al. 2024, after Jia et al.
  2023, whose code follows Song & Mittal 2021): an RBF support-vector classifier learns
  "member" from the model's outputs on retain samples (members) against test samples
  (non-members), then labels every forget sample. *MIA-efficacy* is the fraction of forget
  samples it labels non-member: 1 when the model treats them all as unseen data, near the
  retain set's own rate when it still treats them as training data.

The SVC variant implemented, and why:

- the feature is one number per sample, the softmax *confidence of the true class*: SalUn
  reports exactly that entry of its attack ("MIA ... corresponds to
  SVC_MIA_forget_efficacy['confidence']", their README); entropy and Song & Mittal's
  modified entropy are available as ``feature=`` for other readings. The modified entropy
  is Song & Mittal's formula ``-(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i)``; the SalUn
  code's version takes ``log p`` where ``log(1 - p)`` is meant and indexes the label columns
  of every row instead of each row's label, slips not reproduced (SalUn does not report it);
- the SVC is SalUn's: ``SVC(C=3, kernel="rbf", gamma="auto")``;
- its training set is balanced, as many members as non-members (SalUn takes as many retain
  samples as the test set has), so that chance is one half whatever the set sizes; here
  both are a seeded uniform subsample of at most ``max_shadow`` samples each (SalUn takes
  the first retain samples, which depends on the dataset's order);
- determinism: the subsample comes from the attack's own ``numpy`` Generator, and the SVC
  gets a fixed ``random_state`` (without one, scikit-learn draws libsvm's seed from the
  *global* numpy state, which would shift every later draw of a run; the seed only matters
  for probability estimates, which are not used).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import entr
from sklearn.metrics import roc_auc_score
from sklearn.svm import SVC
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


@torch.no_grad()
def predicted_class_cross_entropy(
    model: nn.Module, dataset: Dataset, *, batch_size: int = 1024, device: str = "cpu"
) -> np.ndarray:
    """Cross-entropy of every sample against the model's own top class, ``-log max softmax``
    (open-set tasks such as re-ID: unseen samples have no label among the classes, so the
    attack scores every sample by the model's confidence instead of its loss on the label)."""
    x = as_tensors(dataset)[0]
    was_training = model.training
    model.eval()
    try:
        logits = [model(batch[0].to(device)).cpu() for batch in iter_batches((x,), batch_size)]
    finally:
        model.train(was_training)
    return -torch.log_softmax(torch.cat(logits).double(), dim=1).max(dim=1).values.numpy()


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


#: Features of the SVC attack, each a function of the softmax output and the true label.
SVC_FEATURES = ("confidence", "entropy", "modified_entropy")
#: Members and non-members (each) the SVC attack trains on at most.
SVC_MAX_SHADOW = 1000
#: log(0) is replaced by log of this, as in Song & Mittal's and SalUn's code.
_LOG_FLOOR = 1e-30


def attack_features(probabilities: Any, labels: Any, feature: str = "confidence") -> np.ndarray:
    """The SVC attack's feature of every sample, a column ``(n, 1)``, from softmax outputs ``(n, classes)``."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64, copy=False).ravel()
    if p.ndim != 2 or p.shape[0] != y.size:
        raise ValueError(f"need probabilities (n, classes) and n labels, got {p.shape} and {y.size} labels")
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"labels must lie in [0, {p.shape[1] - 1}] for {p.shape[1]} classes")
    rows = np.arange(y.size)
    true = p[rows, y]
    if feature == "confidence":
        values = true
    elif feature == "entropy":
        values = entr(p).sum(axis=1)
    elif feature == "modified_entropy":
        others = -p * np.log(np.maximum(1.0 - p, _LOG_FLOOR))
        others[rows, y] = 0.0
        values = -(1.0 - true) * np.log(np.maximum(true, _LOG_FLOOR)) + others.sum(axis=1)
    else:
        raise ValueError(f"unknown SVC attack feature {feature!r}; known: {', '.join(SVC_FEATURES)}")
    return values[:, None]


def balanced_subsample(
    n_members: int, n_nonmembers: int, max_per_side: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of equally many members and non-members (at most ``max_per_side`` each).

    A side that is used whole draws nothing from ``rng``; the other is a uniform draw
    without replacement.
    """
    if max_per_side <= 0:
        raise ValueError(f"max_shadow must be positive, got {max_per_side}")
    size = min(n_members, n_nonmembers, max_per_side)

    def pick(total: int) -> np.ndarray:
        return np.arange(total) if total == size else np.sort(rng.choice(total, size=size, replace=False))

    return pick(n_members), pick(n_nonmembers)


def svc_mia_efficacy(
    member_features: Any,
    nonmember_features: Any,
    forget_features: Any,
    *,
    max_shadow: int = SVC_MAX_SHADOW,
    seed: int | Sequence[int] = 0,
) -> float:
    """Fraction of forget samples the SVC attack labels non-member (SalUn's MIA-efficacy).

    The attack is trained on a balanced, seeded subsample of ``member_features`` (retain
    outputs, label 1) and ``nonmember_features`` (test outputs, label 0); features are rows
    (``(n,)`` is read as one feature per sample), e.g. from :func:`attack_features`.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (member_features, nonmember_features, forget_features)]
    if any(a.ndim == 0 or a.shape[0] == 0 for a in arrays):
        raise ValueError("the SVC attack needs at least one member, one non-member and one forget sample")
    members, nonmembers, forget = (a.reshape(a.shape[0], -1) for a in arrays)
    rng = np.random.default_rng(seed)
    take_members, take_nonmembers = balanced_subsample(len(members), len(nonmembers), max_shadow, rng)
    x = np.concatenate([members[take_members], nonmembers[take_nonmembers]])
    y = np.concatenate([np.ones(take_members.size), np.zeros(take_nonmembers.size)])
    attack = SVC(C=3.0, kernel="rbf", gamma="auto", random_state=0).fit(x, y)
    return float(np.mean(attack.predict(forget) == 0))
