"""L-CODEC paper, Fig. 6: unlearning against retraining from scratch after removals (MNIST).

1000 training samples per class; validation accuracy and the residual (retain-set)
gradient norm against the number of removals, for ``lcodec`` and ``retrain`` (the same
training recipe and seed on the retain set at each checkpoint). Paper: 8 runs.

The residual gradient norm is drawn twice: of the data loss alone (what the authors' code
reports) and of the regularised objective ``mean loss + lambda/2 ||w||^2`` (whose optimum
the Newton step targets; lambda = the training weight decay). Near a regularised optimum the
first is about ``lambda ||w||``, not 0, so only the second measures how close a model is to
the optimum it should reach.
"""

from __future__ import annotations

from unlearnbench.artifacts.removal_curves import (
    RESIDUAL_NORM_DATA,
    RESIDUAL_NORM_REGULARISED,
    VALIDATION_ACCURACY,
    MnistCurves,
)

ARTIFACT = MnistCurves(
    name="lc-fig6-retrain",
    title="L-CODEC Fig. 6: MNIST, L-FOCI unlearning vs retraining",
    panels=[
        VALIDATION_ACCURACY,
        RESIDUAL_NORM_DATA,
        RESIDUAL_NORM_REGULARISED,
    ],
)
