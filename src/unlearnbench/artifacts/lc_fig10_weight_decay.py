"""L-CODEC paper, Fig. 10: the Fig. 6 comparison at a larger weight decay.

The appendix (B.2.4.1) repeats the retraining comparison "with a larger regularization"
and reports that removals then damage the model much less. Every experiment naming this
artifact is drawn, one curve per (weight decay, method), so the profile can put the
Fig. 6 setting beside the larger weight decay.
"""

from __future__ import annotations

from unlearnbench.artifacts.removal_curves import (
    RESIDUAL_NORM_DATA,
    RESIDUAL_NORM_REGULARISED,
    VALIDATION_ACCURACY,
    MnistCurves,
)

ARTIFACT = MnistCurves(
    name="lc-fig10-weight-decay",
    title="L-CODEC Fig. 10: MNIST retraining comparison at a larger weight decay",
    panels=[
        VALIDATION_ACCURACY,
        RESIDUAL_NORM_DATA,
        RESIDUAL_NORM_REGULARISED,
    ],
)
