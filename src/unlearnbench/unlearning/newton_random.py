"""``newton-random``: the block step on randomly chosen slices, as many as L-FOCI selects.

The paper's control for "are we selecting reasonable subsets?" (Sec. 7.1): L-FOCI runs
on the same perturbations with the same seed stream to fix the size, then the slices are
drawn uniformly.
"""

from __future__ import annotations

from torch import nn

from unlearnbench.newton.pipeline import blockwise_unlearn
from unlearnbench.request import UnlearningOutcome, UnlearningRequest


def newton_random(model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome:
    return blockwise_unlearn(model, request, selection="random")


METHODS = {"newton-random": newton_random}
