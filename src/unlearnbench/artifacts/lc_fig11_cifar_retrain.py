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

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.experiments import cifar_zoo, sequential_removal


class CifarRetrainFigure:
    name = "lc-fig11-cifar-retrain"
    paper = "l-codec"
    title = "L-CODEC Fig. 11: CIFAR-10, L-CODEC vs retraining (batch-norm dips at a final batch of 1)"

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        return [
            RunSpec(name, method, seed)
            for name, s in cifar_zoo.experiments_for(config, self.name).items()
            for method in s["methods"]
            for seed in sequential_removal.seeds_of(config, s)
        ]

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        return cifar_zoo.aggregate_runs(run_files)

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        from unlearnbench.artifacts.figures import plt, save_figure
        from unlearnbench.artifacts.summaries import title_with_data_note

        experiments = list(dict.fromkeys(table["experiment"]))
        fig, axes = plt.subplots(
            1, max(1, len(experiments)), figsize=(4.8 * max(1, len(experiments)), 3.6), squeeze=False
        )
        for ax, experiment in zip(axes[0], experiments):
            part_e = table[table["experiment"] == experiment]
            for method, part in part_e.groupby("method", sort=False):
                part = part.sort_values("removals")
                x, y = part["removals"].to_numpy(), part["test_accuracy_mean"].to_numpy(dtype=float)
                std = part["test_accuracy_std"].fillna(0.0).to_numpy(dtype=float)
                line = ax.plot(x, y, marker="o", markersize=3, label=method)[0]
                ax.fill_between(x, y - std, y + std, color=line.get_color(), alpha=0.15)
                ones = part[part["final_batch_of_one"].astype(bool)]
                if method == "retrain" and len(ones):
                    ax.scatter(ones["removals"], ones["test_accuracy_mean"], marker="x", s=60, color="red",
                               zorder=5, label="retrain: final batch of 1")  # fmt: skip
            ax.set_title(f"{part_e['model_label'].iloc[0]} [{experiment}]", fontsize=8)
            ax.set_xlabel("number of removals")
            ax.set_ylabel("validation accuracy")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        seeds = int(table["n_seeds"].max()) if len(table) else 0
        fig.suptitle(
            title_with_data_note(
                f"{self.title} (profile {config.get('profile', '?')}, {seeds} seeds)", table
            ),
            fontsize=9,
        )
        fig.tight_layout()
        save_figure(fig, outputs)

    def markdown(self, table: pd.DataFrame) -> str:
        columns = [c for c in ("model_label", "method", "removals", "test_accuracy_mean", "test_accuracy_std",
                               "residual_accuracy_mean", "output_kl_to_retrain_mean", "final_batch_of_one",
                               "skipped_seeds", "n_seeds") if c in table]  # fmt: skip
        return (
            "`final_batch_of_one`: retraining on this retain set ends each epoch on a batch of one sample "
            "(the paper's batch-norm dips).\n\n" + table[columns].to_markdown(index=False, floatfmt=".4g")
        )

    def status(self, config: Mapping[str, Any]) -> str:
        return cifar_zoo.status(config, self.name)


ARTIFACT = CifarRetrainFigure()
