"""The two reference points every comparison needs: ``before`` (no unlearning) and ``retrain``.

``retrain`` trains a fresh model on the retain set with exactly the original recipe
(``request.retrain_fn``, built by the experiment), which is the gold standard that
approximate methods try to match, and whose wall time they try to beat.
"""

from __future__ import annotations

from torch import nn

from unlearnbench.request import UnlearningOutcome, UnlearningRequest
from unlearnbench.timing import Stopwatch


def before(model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome:
    """The pretrained model unchanged (the BEFORE row of the papers' tables)."""
    return UnlearningOutcome(model=model, seconds=0.0, diagnostics={})


def retrain(model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome:
    """Train from scratch on the retain set with the original recipe."""
    if request.retrain_fn is None:
        raise ValueError("retrain needs request.retrain_fn (the experiment's training recipe)")
    with Stopwatch(request.device) as watch:
        fresh = request.retrain_fn(request.retain)
    return UnlearningOutcome(model=fresh, seconds=watch.seconds, diagnostics={"retain_size": len(request.retain)})


METHODS = {"before": before, "retrain": retrain}
