"""Gradient-surgery paper, Table 1: fratio, IS, FID and time per method, mean (std) over seeds.

One column block per ``generative-unlearning`` experiment (MNIST138 here; CelebA is added
by the feature-unlearning issue), one row per method: BEFORE, gradient ascent, Moon et al.
(when configured), ours (gradient surgery) and retrain from scratch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.artifacts.common import read_runs, save_figure, seeds, summarise, title_with_data_note
from unlearnbench.config import experiments_of_kind
from unlearnbench.data import is_stand_in

METRICS = ("fratio", "IS", "FID", "time")
ROW_LABELS = {
    "before": "BEFORE",
    "gradient-ascent": "GRAD.ASCNT.",
    "feature-unlearning": "MOON ET AL. (2023)",
    "gradient-surgery": "OURS",
    "retrain": "RETRAIN",
}


def describe_experiment(name: str, settings: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """E.g. ``MNIST138 column from gs-digits138 on digits classes [1, 3, 8] (STAND-IN data)``."""
    classes = f" classes {settings['classes']}" if settings.get("classes") else ""
    note = " (STAND-IN data)" if is_stand_in(settings["dataset"], config.get("datasets")) else ""
    return f"{settings.get('paper_column')} column from {name} on {settings['dataset']}{classes}{note}"


def methods_of(settings: Mapping[str, Any]) -> list[str]:
    """``before`` plus the configured methods, in the paper's row order."""
    configured = set(settings.get("methods", {}))
    return ["before"] + [m for m in ROW_LABELS if m in configured and m != "before"]


class GsTable1:
    name = "gs-table1"
    paper = "gradient-surgery"
    title = "Gradient surgery, Table 1: class/feature unlearning of a VAE"

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        return [
            RunSpec(experiment, method, seed)
            for experiment, settings in experiments_of_kind(config, "generative-unlearning").items()
            for method in methods_of(settings)
            for seed in seeds(config)
        ]

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        records = []
        for run in read_runs(run_files):
            records.append({
                "column": run["paper_column"],
                "experiment": run["experiment"],
                "dataset": run["dataset"],
                "stand_in": run["stand_in"],
                "row": ROW_LABELS.get(run["method"], run["method"]),
                "method": run["method"],
                "seed": run["seed"],
                **{m: run["metrics"][m] for m in METRICS},
            })
        frame = pd.DataFrame.from_records(records)
        keys = ["column", "experiment", "dataset", "stand_in", "row", "method"]
        return summarise(frame, keys, METRICS)

    def markdown(self, table: pd.DataFrame) -> str:
        """The table as the paper prints it: ``mean (std)`` cells, one block per column."""
        blocks = []
        for column, part in table.groupby("column", sort=False):
            cells = pd.DataFrame({"row": part["row"]})
            for metric in METRICS:
                cells[metric] = [f"{m:.3f} ({s:.3f})" if pd.notna(s) else f"{m:.3f}"
                                 for m, s in zip(part[f"{metric}_mean"], part[f"{metric}_std"])]
            cells["seeds"] = part["n_seeds"].values
            blocks.append(f"### {column}: {part['dataset'].iloc[0]}\n\n{cells.to_markdown(index=False)}\n")
        return "\n".join(blocks)

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        columns = list(dict.fromkeys(table["column"]))
        fig, axes = plt.subplots(len(columns), len(METRICS), figsize=(3.2 * len(METRICS), 2.8 * len(columns)), squeeze=False)
        for i, column in enumerate(columns):
            part = table[table["column"] == column]
            for j, metric in enumerate(METRICS):
                ax = axes[i][j]
                x = np.arange(len(part))
                ax.bar(x, part[f"{metric}_mean"], yerr=part[f"{metric}_std"].fillna(0), color="tab:blue", alpha=0.8, capsize=3)
                ax.set_xticks(x, part["row"], rotation=35, ha="right", fontsize=7)
                ax.set_title(f"{column}: {metric}" + (" (s)" if metric == "time" else ""), fontsize=9)
                if metric == "time":
                    ax.set_yscale("log")
        fig.suptitle(title_with_data_note(f"{self.title} (profile {config['profile']})", table), fontsize=9)
        fig.tight_layout()
        save_figure(fig, outputs)

    def status(self, config: Mapping[str, Any]) -> str:
        experiments = experiments_of_kind(config, "generative-unlearning")
        if not experiments:
            return "not configured in this profile"
        return "configured: " + "; ".join(describe_experiment(name, s, config) for name, s in experiments.items())


ARTIFACT = GsTable1()
