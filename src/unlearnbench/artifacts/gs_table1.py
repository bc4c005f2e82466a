"""Gradient-surgery paper, Table 1: fratio, IS, FID and time per method, mean (std) over seeds.

One column block per ``generative-unlearning`` experiment (MNIST138: class 1; CelebA:
feature "male"), one row per configured method in the paper's order: BEFORE, gradient
ascent, Moon et al. (2023) (``feature-unlearning``), ours (gradient surgery) and retrain
from scratch. The table records which features FID was computed on (``fid_features``):
the paper's CelebA FID is the standard Inception FID, while the quick profile's CelebA
stand-in uses the evaluation classifier's features (no Inception weights offline); the
markdown says so under the block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.artifacts.figures import figure_heading, finish_figure, plt
from unlearnbench.artifacts.summaries import experiments_for, read_runs, run_grid, status_line, summarise
from unlearnbench.data import is_stand_in

METRICS = ("fratio", "IS", "FID", "time")
#: FID in every classifier space, recorded by runs with a classifier FID (readings: metric-space).
FID_SPACES = ("FID_penultimate", "FID_logits", "FID_probabilities")
ROW_LABELS = {
    "before": "BEFORE",
    "gradient-ascent": "GRAD.ASCNT.",
    "feature-unlearning": "MOON ET AL. (2023)",
    "gradient-surgery": "OURS",
    "retrain": "RETRAIN",
}


FID_NOTES = {
    "inception": "FID: standard Inception FID (pytorch-fid's InceptionV3 pool features), as in the paper's CelebA column.",
    "classifier": "FID: computed on the evaluation classifier's penultimate features (domain-classifier FID, "
    "as the paper's MNIST138 numbers imply).",
}
CELEBA_CLASSIFIER_FID_NOTE = (
    "The paper's CelebA FID is the Inception FID; this block uses the classifier's features instead "
    "(no Inception weights offline), so its FID is on another scale and not comparable to the paper's."
)


def forget_label(forget_class: Any) -> str:
    """``class: 1`` for a class label, ``feature: male`` for an attribute label (as the paper's header)."""
    return f"class: {forget_class}" if isinstance(forget_class, int) else f"feature: {forget_class}"


def describe_experiment(name: str, settings: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """E.g. ``MNIST138 column (class: 1) from gs-digits138 on digits classes [1, 3, 8] (STAND-IN data)``."""
    classes = f" classes {settings['classes']}" if settings.get("classes") else ""
    note = " (STAND-IN data)" if is_stand_in(settings["dataset"], config.get("datasets")) else ""
    fid = settings.get("evaluation", {}).get("fid_features", "classifier")
    return (
        f"{settings.get('paper_column')} column ({forget_label(settings.get('forget_class'))}) from {name} "
        f"on {settings['dataset']}{classes}{note}, FID on {fid} features"
    )


def table_experiments(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The generative-unlearning blocks the paper's table and figure show: every block but the
    ones that run an alternative reading (``reading:``), which only ``gs-readings`` reads."""
    return {n: s for n, s in experiments_for(config, "generative-unlearning").items() if not s.get("reading")}


def generative_status(config: Mapping[str, Any]) -> str:
    """The status line shared by the paper-1 artifacts (they read the same experiments)."""
    return status_line(table_experiments(config), lambda name, s: describe_experiment(name, s, config))


def methods_of(settings: Mapping[str, Any]) -> list[str]:
    """``before`` plus the configured methods, in the paper's row order."""
    configured = set(settings.get("methods", {}))
    return ["before"] + [m for m in ROW_LABELS if m in configured and m != "before"]


class GsTable1:
    name = "gs-table1"
    paper = "gradient-surgery"
    title = "Gradient surgery, Table 1: class/feature unlearning of a VAE"

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        return run_grid(config, table_experiments(config), methods_of)

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        records = []
        for run in read_runs(run_files):
            records.append(
                {
                    "column": run["paper_column"],
                    "experiment": run["experiment"],
                    "dataset": run["dataset"],
                    "forget": forget_label(run["forget_class"]),
                    "fid_features": run.get("fid_features", "classifier"),
                    "stand_in": run["stand_in"],
                    "row": ROW_LABELS.get(run["method"], run["method"]),
                    "method": run["method"],
                    "seed": run["seed"],
                    **{m: run["metrics"][m] for m in METRICS},
                    **{m: run["metrics"].get(m) for m in FID_SPACES},
                }
            )
        frame = pd.DataFrame.from_records(records)
        keys = ["column", "experiment", "dataset", "forget", "fid_features", "stand_in", "row", "method"]
        spaces = [m for m in FID_SPACES if frame[m].notna().any()]
        frame[spaces] = frame[spaces].astype(float)
        table = summarise(frame, keys, [*METRICS, *spaces])
        order = {label: i for i, label in enumerate(ROW_LABELS.values())}
        columns = list(dict.fromkeys(table["column"]))
        table["_c"] = table["column"].map(columns.index)
        table["_r"] = table["row"].map(lambda r: order.get(r, len(order)))
        return (
            table.sort_values(["_c", "_r"], kind="stable").drop(columns=["_c", "_r"]).reset_index(drop=True)
        )

    def markdown(self, table: pd.DataFrame) -> str:
        """The table as the paper prints it: ``mean (std)`` cells, one block per column."""
        blocks = []
        for column, part in table.groupby("column", sort=False):
            cells = pd.DataFrame({"row": part["row"]})
            for metric in METRICS:
                cells[metric] = [
                    f"{m:.3f} ({s:.3f})" if pd.notna(s) else f"{m:.3f}"
                    for m, s in zip(part[f"{metric}_mean"], part[f"{metric}_std"])
                ]
            cells["seeds"] = part["n_seeds"].values
            first = part.iloc[0]
            notes = [FID_NOTES.get(first["fid_features"], f"FID on {first['fid_features']} features.")]
            if str(column).lower() == "celeba" and first["fid_features"] != "inception":
                notes.append(CELEBA_CLASSIFIER_FID_NOTE)
            if bool(first["stand_in"]):
                notes.append(
                    "STAND-IN data: not the paper's dataset; the numbers are not comparable to the paper's."
                )
            notes.append(
                "Time (s): pretraining for BEFORE, retraining for RETRAIN, the unlearning step otherwise."
            )
            blocks.append(
                f"### {column} ({first['forget']}): {first['dataset']}\n\n{cells.to_markdown(index=False)}\n\n"
                + "\n".join(f"- {note}" for note in notes)
                + "\n"
            )
        return "\n".join(blocks)

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        columns = list(dict.fromkeys(table["column"]))
        fig, axes = plt.subplots(
            len(columns), len(METRICS), figsize=(3.2 * len(METRICS), 2.8 * len(columns)), squeeze=False
        )
        for i, column in enumerate(columns):
            part = table[table["column"] == column]
            for j, metric in enumerate(METRICS):
                ax = axes[i][j]
                x = np.arange(len(part))
                ax.bar(
                    x,
                    part[f"{metric}_mean"],
                    yerr=part[f"{metric}_std"].fillna(0),
                    color="tab:blue",
                    alpha=0.8,
                    capsize=3,
                )
                ax.set_xticks(x, part["row"], rotation=35, ha="right", fontsize=7)
                label = f"FID ({part['fid_features'].iloc[0]} features)" if metric == "FID" else metric
                ax.set_title(f"{column}: {label}" + (" (s)" if metric == "time" else ""), fontsize=9)
                if metric == "time":
                    ax.set_yscale("log")
        finish_figure(fig, figure_heading(self.title, config), table, outputs)

    def status(self, config: Mapping[str, Any]) -> str:
        return generative_status(config)


ARTIFACT = GsTable1()
