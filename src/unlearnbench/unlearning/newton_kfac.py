"""``newton-kfac``: the Newton removal step with a per-layer K-FAC Hessian (paper appendix D.4).

Every supported layer (Linear; Conv2d with groups=1) is updated with its own
Kronecker-factored curvature of the retain set, inverted factor-wise; see
:mod:`unlearnbench.newton.kfac` for the approximation and damping.
"""

from __future__ import annotations

from torch import nn

from unlearnbench.newton.pipeline import kfac_unlearn
from unlearnbench.request import UnlearningOutcome, UnlearningRequest


def newton_kfac(model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome:
    return kfac_unlearn(model, request)


METHODS = {"newton-kfac": newton_kfac}
