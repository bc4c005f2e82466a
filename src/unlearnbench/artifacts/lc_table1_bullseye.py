"""L-CODEC paper, Table 1: 3D-Bullseye Markov-blanket identification (TPR, FPR, time).

Rows are the paper's: ``[44]`` (the CIT of Yang et al. 2020, kNN conditional mutual
information), ``L-CODEC + CIT`` and ``L-CODEC + L-FOCI``; columns the two inputs, ``raw``
(six 3-D points) and ``feature-maps`` (six learned codes). Cells are the mean (std, n) over
seeds of ``tpr``, ``fpr`` and ``seconds``. L-FOCI on raw data is not applicable (the paper's
"N/A"): those cells are empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unlearnbench.artifacts.figures import figure_heading, finish_figure, plt
from unlearnbench.artifacts.summaries import CellTable, cell_record, configured_methods, sorted_by
from unlearnbench.experiments.bullseye import INPUTS, METHODS, resolved_settings

METRICS = ("tpr", "fpr", "seconds")
ROW_LABELS = {"cit-baseline": "[44]", "lcodec-cit": "L-CODEC + CIT", "lcodec-lfoci": "L-CODEC + L-FOCI"}
COLUMN_LABELS = {"raw": "Raw Data", "feature-maps": "Feature Maps"}


class LcTable1Bullseye(CellTable):
    name = "lc-table1-bullseye"
    kind = "bullseye"
    paper = "l-codec"
    title = "L-CODEC, Table 1: 3D-Bullseye Markov blanket identification (TPR, FPR, time)"
    methods = staticmethod(configured_methods(METHODS, "bullseye"))

    keys = ("column", "row", "experiment", "method", "stand_in", "n_samples", "applicable")
    metrics = METRICS

    def cells(self, run: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
        for column, cell in run["metrics"].items():
            fields = {
                "n_samples": run["settings"]["n_samples"],
                "applicable": bool(cell.get("applicable", True)),
                "seed": run["seed"],
                **{m: (np.nan if cell.get(m) is None else float(cell[m])) for m in METRICS},
            }
            yield cell_record(run, column, ROW_LABELS.get(run["method"], run["method"]), fields)

    def order(self, table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
        """The paper's: inputs as its columns, methods as its rows."""
        return sorted_by(table, {"column": INPUTS, "method": METHODS})

    def markdown(self, table: pd.DataFrame) -> str:
        """The paper's layout: one row per method, TPR / FPR / Time (s) under each input."""
        lines = []
        for experiment, part in table.groupby("experiment", sort=False):
            cells = {}
            for _, r in part.iterrows():
                row = cells.setdefault(r["row"], {"Method": r["row"]})
                for metric, label in zip(METRICS, ("TPR", "FPR", "Time (s)"), strict=True):
                    key = f"{COLUMN_LABELS.get(r['column'], r['column'])}: {label}"
                    row[key] = (
                        _cell(r[f"{metric}_mean"], r[f"{metric}_std"], r["n_seeds"])
                        if r["applicable"]
                        else "N/A"
                    )
            lines.append(f"### {experiment} (n = {int(part['n_samples'].iloc[0])})\n")
            lines.append(pd.DataFrame(list(cells.values())).fillna("").to_markdown(index=False))
            lines.append(
                "\nmean (std) over seeds; time is the selection only (feature-map training excluded).\n"
            )
        return "\n".join(lines)

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        columns = [c for c in INPUTS if c in set(table["column"])]
        fig, axes = plt.subplots(
            len(columns), len(METRICS), figsize=(3.4 * len(METRICS), 2.9 * len(columns)), squeeze=False
        )
        for i, column in enumerate(columns):
            part = table[table["column"] == column]
            x = np.arange(len(part))
            for j, metric in enumerate(METRICS):
                ax = axes[i][j]
                means = part[f"{metric}_mean"].to_numpy(dtype=float)
                errs = np.nan_to_num(part[f"{metric}_std"].to_numpy(dtype=float))
                ax.bar(x, np.nan_to_num(means), yerr=errs, color="tab:blue", alpha=0.8, capsize=3)
                for xi, m, ok in zip(x, means, part["applicable"], strict=True):
                    ax.annotate(
                        "N/A" if not ok or np.isnan(m) else f"{m:.3g}",
                        (xi, 0 if np.isnan(m) else m),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                    )
                ax.set_xticks(x, part["row"], rotation=25, ha="right", fontsize=7)
                if metric == "seconds":
                    ax.set_yscale("log")
                else:
                    ax.set_ylim(0, 1.1)
                label = {"tpr": "TPR", "fpr": "FPR", "seconds": "Time (s)"}[metric]
                ax.set_title(f"{COLUMN_LABELS.get(column, column)}: {label}", fontsize=9)
        finish_figure(fig, figure_heading(self.title, config), table, outputs)

    def describe(self, name: str, settings: Mapping[str, Any], config: Mapping[str, Any]) -> str:
        s = resolved_settings(settings)
        return (
            f"{name}: generated 3D-Bullseye, n={s['n_samples']}, {s['n_trials']} permutations, "
            f"inputs {', '.join(s['inputs'])}, methods {', '.join(self.methods(settings))}"
        )


def _cell(mean: float, std: float, n: int) -> str:
    if pd.isna(mean):
        return "N/A"
    return f"{mean:.3g} ({std:.2g})" if pd.notna(std) else f"{mean:.3g}"


ARTIFACT = LcTable1Bullseye()
