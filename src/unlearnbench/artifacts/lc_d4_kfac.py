"""L-CODEC paper, appendix D.4 (text, no figure): K-FAC instead of the L-FOCI block Hessian.

D.4 unlearns with a per-layer K-FAC approximation of the Hessian (``newton-kfac``) from an
MLP trained on MNIST and reports, in words only, that it makes no observable change to the
model's validation metrics, while L-CODEC (``lcodec``) with the same model and parameters
does unlearn the same samples. This figure draws both methods' validation accuracy, their
accuracy on the samples removed so far, and the removed sample's gradient norm after its
removal, against the number of removals (mean and std over seeds). There are no published
numbers to compare against.
"""

from __future__ import annotations

from unlearnbench.artifacts.removal_curves import (
    FORGET_ACCURACY,
    SAMPLE_GRADIENT_NORM,
    VALIDATION_ACCURACY,
    MnistCurves,
)

ARTIFACT = MnistCurves(
    name="lc-d4-kfac",
    title="L-CODEC appendix D.4 (text): K-FAC vs L-FOCI Newton unlearning, MNIST MLP",
    panels=[
        VALIDATION_ACCURACY,
        FORGET_ACCURACY,
        SAMPLE_GRADIENT_NORM,
        ("sample_loss_after", "removed samples' loss (after removal)", False),
    ],
)
