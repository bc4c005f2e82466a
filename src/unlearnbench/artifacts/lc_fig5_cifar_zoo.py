"""L-CODEC paper, Fig. 5 (right): residual accuracy and removed-sample gradient norm, CIFAR-10 model zoo.

Every ``cifar-zoo`` experiment that names this artifact contributes one curve per
unlearning method (``lcodec`` in the paper) against the number of removals: the residual
(retain-set) accuracy, the accuracy on the samples removed so far, and the removed
sample's gradient norm after its removal. Paper (appendix B.2.5): SGD, batch 64, lr 0.1
(0.01 for VGG-11-BN), weight decay 0.01, no augmentation; epsilon 0.1, delta 0.01, 1000
perturbations, 1000 random removals, 2 replications. ``retrain`` runs of the same
experiments (Fig. 11) are not drawn here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from unlearnbench.artifacts.removal_curves import FORGET_ACCURACY, RESIDUAL_ACCURACY, CifarZooCurves


class CifarZooFigure(CifarZooCurves):
    skipped_methods = ("retrain",)  # Fig. 11's

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        """One panel per metric, one curve per model (and method, when several)."""
        several_methods = table["method"].nunique() > 1
        fig, axes = self.metric_panels(
            table,
            ["model_label", "method"],
            lambda key: f"{key[0]} ({key[1]})" if several_methods else key[0],
            size=(4.4, 3.6),
            alpha=0.15,
            sort=True,
        )
        axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
        self.save(fig, table, config, outputs)

    def markdown(self, table: pd.DataFrame) -> str:
        """The first and last checkpoint of every model: the change the figure shows."""
        rows = []
        for _, part in table.groupby(["model_label", "method"], sort=False):
            rows.append(part.sort_values("removals").iloc[[0, -1]])
        short = pd.concat(rows) if rows else table
        columns = [c for c in ("model_label", "method", "n_parameters", "removals", "residual_accuracy_mean",
                               "forget_accuracy_mean", "test_accuracy_mean", "sample_gradient_norm_after_mean",
                               "seconds_per_removal_mean", "slices_selected_mean", "n_seeds") if c in short]  # fmt: skip
        return "First and last checkpoint per model (the CSV holds every checkpoint).\n\n" + short[
            columns
        ].to_markdown(index=False, floatfmt=".4g")


ARTIFACT = CifarZooFigure(
    name="lc-fig5-cifar-zoo",
    title="L-CODEC Fig. 5 (right): CIFAR-10 model zoo, residual accuracy and sample gradient norm",
    panels=[
        RESIDUAL_ACCURACY,
        FORGET_ACCURACY,
        ("sample_gradient_norm_after", "removed sample's gradient norm (after)", True),
    ],
)
