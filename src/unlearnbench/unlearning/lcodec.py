"""``lcodec``: L-CODEC deep unlearning (Mehta et al., CVPR 2022, Alg. 1).

Perturb the forget sample ``m`` times, record one activation per slice and the loss of
each copy, let L-FOCI pick the slices the loss depends on, and take the noisy Newton
removal step on those slices only. ``selection`` (``lfoci`` by default, or ``cheap``,
``random``, ``full``), ``hessian`` (``exact``, ``dense``, ``finite-difference``) and
``noise`` (``paper``, ``authors-code``, ``none``) come from the hyperparameters; see
:mod:`unlearnbench.newton` for every key and where it follows the paper or the code.
"""

from __future__ import annotations

from torch import nn

from unlearnbench.newton.pipeline import blockwise_unlearn
from unlearnbench.request import UnlearningOutcome, UnlearningRequest


def lcodec(model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome:
    return blockwise_unlearn(model, request)


METHODS = {"lcodec": lcodec}
