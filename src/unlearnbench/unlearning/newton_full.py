"""``newton-full``: the Newton removal step on every Linear/Conv parameter (Sekhari et al. 2021).

The reference L-CODEC is compared with on small models (paper Fig. 5, left). "Full"
means every slice; with the default ``hessian: exact`` the full Hessian is applied
through Hessian-vector products and conjugate gradients, never formed.
"""

from __future__ import annotations

from torch import nn

from unlearnbench.newton.pipeline import blockwise_unlearn
from unlearnbench.request import UnlearningOutcome, UnlearningRequest


def newton_full(model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome:
    return blockwise_unlearn(model, request, selection="full")


METHODS = {"newton-full": newton_full}
