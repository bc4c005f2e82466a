"""L-CODEC paper, Fig. 5 (left): logistic regression on MNIST, 1000 sequential removals.

Residual (retain-set) and validation accuracy, and the removed sample's gradient norm after
its removal, against the number of removals, for the L-FOCI block update (``lcodec``),
the full Newton update (``newton-full``) and a random block of the same size
(``newton-random``). Paper: SGD lr 0.1, batch 256, weight decay 0.01, 50 epochs,
epsilon 0.1, delta 0.01, 1000 perturbations, averaged over 10 runs.
"""

from __future__ import annotations

from unlearnbench.artifacts.removal_curves import (
    RESIDUAL_ACCURACY,
    SAMPLE_GRADIENT_NORM,
    VALIDATION_ACCURACY,
    MnistCurves,
)

ARTIFACT = MnistCurves(
    name="lc-fig5-mnist-logreg",
    title="L-CODEC Fig. 5 (left): MNIST logistic regression, residual accuracy and sample gradient norm",
    panels=[
        RESIDUAL_ACCURACY,
        VALIDATION_ACCURACY,
        SAMPLE_GRADIENT_NORM,
    ],
)
