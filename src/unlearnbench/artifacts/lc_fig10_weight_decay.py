"""L-CODEC paper, Fig. 10: the Fig. 6 comparison at a larger weight decay.

The appendix (B.2.4.1) repeats the retraining comparison "with a larger regularization"
and reports that removals then damage the model much less. Every experiment naming this
artifact is drawn, one curve per (weight decay, method), so the profile can put the
Fig. 6 setting beside the larger weight decay.
"""

from __future__ import annotations

from unlearnbench.experiments.sequential_removal import SequentialRemovalFigure

ARTIFACT = SequentialRemovalFigure(
    name="lc-fig10-weight-decay",
    title="L-CODEC Fig. 10: MNIST retraining comparison at a larger weight decay",
    panels=[
        ("test_accuracy", "validation accuracy", False),
        ("residual_gradient_norm_data", "residual gradient norm (data loss)", True),
        ("residual_gradient_norm_regularised", "residual gradient norm (regularised objective)", True),
    ],
)
