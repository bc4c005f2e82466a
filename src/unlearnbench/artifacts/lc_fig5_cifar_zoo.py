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

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.experiments import cifar_zoo, sequential_removal

PANELS = (
    ("residual_accuracy", "residual (retain) accuracy", False),
    ("forget_accuracy", "accuracy on the removed samples", False),
    ("sample_gradient_norm_after", "removed sample's gradient norm (after)", True),
)


class CifarZooFigure:
    name = "lc-fig5-cifar-zoo"
    paper = "l-codec"
    title = "L-CODEC Fig. 5 (right): CIFAR-10 model zoo, residual accuracy and sample gradient norm"

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        return [
            RunSpec(name, method, seed)
            for name, s in cifar_zoo.experiments_for(config, self.name).items()
            for method in s["methods"]
            if method != "retrain"
            for seed in sequential_removal.seeds_of(config, s)
        ]

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        methods = {spec.method for spec in self.runs(config)}
        return cifar_zoo.aggregate_runs(run_files, sorted(methods) if methods else None)

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        from unlearnbench.artifacts.figures import plt, save_figure
        from unlearnbench.artifacts.summaries import title_with_data_note

        fig, axes = plt.subplots(1, len(PANELS), figsize=(4.4 * len(PANELS), 3.6), squeeze=False)
        several_methods = table["method"].nunique() > 1
        for ax, (metric, label, log) in zip(axes[0], PANELS):
            column = f"{metric}_mean"
            for (model, method), part in table.groupby(["model_label", "method"], sort=False):
                if column not in part or part[column].isna().all():
                    continue
                part = part.sort_values("removals")
                x, y = part["removals"].to_numpy(), part[column].to_numpy(dtype=float)
                std = part[f"{metric}_std"].fillna(0.0).to_numpy(dtype=float)
                line = ax.plot(
                    x, y, marker="o", markersize=3, label=f"{model} ({method})" if several_methods else model
                )[0]
                ax.fill_between(x, y - std, y + std, color=line.get_color(), alpha=0.15)
            ax.set_xlabel("number of removals")
            ax.set_ylabel(label)
            if log:
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
        axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
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

    def status(self, config: Mapping[str, Any]) -> str:
        return cifar_zoo.status(config, self.name)


ARTIFACT = CifarZooFigure()
