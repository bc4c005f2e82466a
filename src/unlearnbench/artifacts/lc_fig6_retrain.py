"""L-CODEC paper, Fig. 6: unlearning against retraining from scratch after removals (MNIST).

1000 training samples per class; validation accuracy and the residual (retain-set)
gradient norm against the number of removals, for ``lcodec`` and ``retrain`` (the same
training recipe and seed on the retain set at each checkpoint). Paper: 8 runs.
"""

from __future__ import annotations

from unlearnbench.experiments.sequential_removal import SequentialRemovalFigure

ARTIFACT = SequentialRemovalFigure(
    name="lc-fig6-retrain",
    title="L-CODEC Fig. 6: MNIST, L-FOCI unlearning vs retraining",
    panels=[
        ("test_accuracy", "validation accuracy", False),
        ("residual_gradient_norm", "residual gradient norm", True),
    ],
)
