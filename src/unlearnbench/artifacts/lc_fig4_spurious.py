"""L-CODEC paper, Fig. 4: spurious-feature regularisation for CelebA "No Beard".

Test accuracy of the target classifier on samples with (green) and without (red) each of
the attributes most correlated with the target, for gradient-reversal regularisation over
all other attributes, a random subset, and the Markov blanket L-FOCI selects (plus the
unregularised model when configured). The paper claims the FOCI selection keeps high
overall accuracy and high accuracy with and without the correlated attributes. The
figure's bar heights are not given in the text, so there are no published values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unlearnbench.artifacts.figures import figure_heading, finish_figure, seed_count
from unlearnbench.artifacts.summaries import KindArtifact, read_runs, summarise

LABELS = {
    "all": "all attributes",
    "random": "random subset",
    "foci": "FOCI (Markov blanket)",
    "none": "no regulariser",
}


class LcFig4Spurious(KindArtifact):
    name = "lc-fig4-spurious"
    kind = "spurious-features"
    paper = "l-codec"
    title = "L-CODEC Fig. 4: gradient-reversal regularisation for CelebA No_Beard"

    def methods(self, settings: Mapping[str, Any]) -> list[str]:
        """The run names are the regularisations."""
        return list(settings.get("regularisations") or [])

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        records = []
        for run in read_runs(run_files):
            base = {
                "experiment": run["experiment"],
                "dataset": run["dataset"],
                "stand_in": bool(run["stand_in"]),
                "target": run["target"],
                "regularisation": run["method"],
                "regularised": ", ".join(run["regularised"]) or "-",
                "seed": run["seed"],
            }
            records.append(
                {
                    **base,
                    "column": LABELS.get(run["method"], run["method"]),
                    "row": "overall",
                    "attribute": "overall",
                    "subset": "all",
                    "accuracy": run["accuracy"],
                }
            )
            for attribute, group in run["subgroups"].items():
                for subset in ("with", "without"):
                    records.append(
                        {
                            **base,
                            "column": LABELS.get(run["method"], run["method"]),
                            "row": f"{subset} {attribute}",
                            "attribute": attribute,
                            "subset": subset,
                            "accuracy": group[subset],
                        }
                    )
        frame = pd.DataFrame.from_records(records)
        frame["accuracy"] = pd.to_numeric(frame["accuracy"], errors="coerce")
        keys = [
            "column",
            "row",
            "experiment",
            "dataset",
            "stand_in",
            "target",
            "regularisation",
            "regularised",
            "attribute",
            "subset",
        ]
        return summarise(frame, keys, ["accuracy"])

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        from unlearnbench.artifacts.figures import plt

        panels = list(table.groupby(["experiment", "regularisation"], sort=False))
        fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.6), squeeze=False, sharey=True)
        for ax, ((_experiment, regularisation), part) in zip(axes[0], panels):
            attrs = [a for a in dict.fromkeys(part["attribute"]) if a != "overall"]
            x = np.arange(len(attrs))
            for offset, subset, colour in ((-0.2, "with", "tab:green"), (0.2, "without", "tab:red")):
                sub = part[part["subset"] == subset].set_index("attribute").reindex(attrs)
                ax.bar(
                    x + offset,
                    sub["accuracy_mean"],
                    width=0.4,
                    yerr=sub["accuracy_std"].fillna(0),
                    color=colour,
                    alpha=0.85,
                    capsize=2,
                    label=f"{subset} attribute",
                )
            overall = part[part["attribute"] == "overall"]["accuracy_mean"].iloc[0]
            ax.axhline(overall, color="black", linestyle=":", linewidth=1, label=f"overall {overall:.3f}")
            ax.set_xticks(x, attrs, rotation=40, ha="right", fontsize=7)
            ax.set_title(
                f"{LABELS.get(regularisation, regularisation)}\nregularised: {part['regularised'].iloc[0]}",
                fontsize=7,
            )
            ax.set_ylim(0, 1.05)
            ax.grid(alpha=0.3, axis="y")
        axes[0][0].set_ylabel(f"test accuracy ({table['target'].iloc[0]})")
        axes[0][0].legend(fontsize=6, loc="lower left")
        finish_figure(fig, figure_heading(self.title, config, f"{seed_count(table)} seed(s)"), table, outputs)

    def describe(self, name: str, settings: Mapping[str, Any], config: Mapping[str, Any]) -> str:
        source = (settings.get("data") or {}).get("source", "standin")
        data = "STAND-IN: synthetic faces in CelebA's format" if source == "standin" else "CelebA"
        return f"{name} ({data}; target {settings.get('target')}; {', '.join(self.methods(settings))})"


ARTIFACT = LcFig4Spurious()
