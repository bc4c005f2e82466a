"""L-CODEC paper, Fig. 11: CIFAR-10, L-CODEC unlearning against retraining, and the batch-norm dips.

One panel per ``cifar-zoo`` experiment that names this artifact (ResNet-18 and VGG-11 in
the paper): validation accuracy against the number of removals for ``lcodec`` and for
``retrain`` (the original recipe and seed on the retain set of each checkpoint).
Checkpoints at which retraining ends every epoch on a batch of ONE sample (retain set
size = 1 modulo the batch size) are marked: batch-norm statistics of a single sample are
what the paper (appendix B.2.4.2) identifies as the cause of the dips. Retrains skipped
there (``final_batch: skip``) are listed in the table and left out of the curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from unlearnbench.artifacts import figures
from unlearnbench.artifacts.removal_curves import CifarZooCurves


class CifarRetrainFigure(CifarZooCurves):
    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        """One panel per model: validation accuracy, the checkpoints with a final batch of 1 marked."""
        experiments = list(dict.fromkeys(table["experiment"]))
        fig, axes = figures.plt.subplots(
            1, max(1, len(experiments)), figsize=(4.8 * max(1, len(experiments)), 3.6), squeeze=False
        )
        for ax, experiment in zip(axes[0], experiments):
            part_e = table[table["experiment"] == experiment]
            for method, part in part_e.groupby("method", sort=False):
                part = part.sort_values("removals")
                figures.mean_curve(ax, part["removals"].to_numpy(), part, "test_accuracy", 0.15, label=method)
                ones = part[part["final_batch_of_one"].astype(bool)]
                if method == "retrain" and len(ones):
                    ax.scatter(ones["removals"], ones["test_accuracy_mean"], marker="x", s=60, color="red",
                               zorder=5, label="retrain: final batch of 1")  # fmt: skip
            ax.set_title(f"{part_e['model_label'].iloc[0]} [{experiment}]", fontsize=8)
            figures.label_axis(ax, "number of removals", "validation accuracy", legend=7)
        self.save(fig, table, config, outputs)

    def markdown(self, table: pd.DataFrame) -> str:
        columns = [c for c in ("model_label", "method", "removals", "test_accuracy_mean", "test_accuracy_std",
                               "residual_accuracy_mean", "output_kl_to_retrain_mean", "final_batch_of_one",
                               "skipped_seeds", "n_seeds") if c in table]  # fmt: skip
        return (
            "`final_batch_of_one`: retraining on this retain set ends each epoch on a batch of one sample "
            "(the paper's batch-norm dips).\n\n" + table[columns].to_markdown(index=False, floatfmt=".4g")
        )


ARTIFACT = CifarRetrainFigure(
    name="lc-fig11-cifar-retrain",
    title="L-CODEC Fig. 11: CIFAR-10, L-CODEC vs retraining (batch-norm dips at a final batch of 1)",
)
