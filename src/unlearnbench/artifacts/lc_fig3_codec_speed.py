"""L-CODEC paper, Fig. 3 (and Fig. 9): FOCI vs L-FOCI wall time per CelebA attribute.

Each attribute in turn is the target and the others the candidates; one pair of bars per
attribute (FOCI, L-FOCI), mean over seeds (each seed: its own row subsample and tie-breaking),
log scale as the paper's figure. The table has one row per (attribute, method) with
``seconds_mean``, ``seconds_std`` and ``n_seeds``, and the rows and attributes actually used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unlearnbench.artifacts.figures import figure_heading, finish_figure, plt
from unlearnbench.artifacts.summaries import CellTable, cell_record, configured_methods, sorted_by
from unlearnbench.experiments.codec_speed import METHODS

LABELS = {"foci": "FOCI (CODEC)", "lfoci": "L-FOCI (L-CODEC)"}


class LcFig3CodecSpeed(CellTable):
    name = "lc-fig3-codec-speed"
    kind = "codec-speed"
    paper = "l-codec"
    title = "L-CODEC, Fig. 3/9: FOCI vs L-FOCI run time per CelebA attribute"
    methods = staticmethod(configured_methods(METHODS, "codec-speed"))

    keys = ("experiment", "row", "column", "method", "stand_in", "n_rows")
    metrics = ("seconds", "n_selected")

    def cells(self, run: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
        m = run["metrics"]
        for attribute, cell in m["per_attribute"].items():
            if "seconds" not in cell:
                continue  # constant in that subsample
            fields = {
                "n_rows": int(m["n_rows"]),
                "seed": run["seed"],
                "seconds": float(cell["seconds"]),
                "n_selected": len(cell["selected"]),
            }
            yield cell_record(run, run["method"], attribute, fields)

    def order(self, table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
        """By experiment, then attribute in the runs' order, then method in the figure's order."""
        return sorted_by(
            table, {"experiment": None, "row": list(dict.fromkeys(frame["row"])), "method": METHODS}
        )

    def markdown(self, table: pd.DataFrame) -> str:
        lines = []
        for experiment, part in table.groupby("experiment", sort=False):
            wide = part.pivot_table(index="row", columns="method", values="seconds_mean", sort=False)
            wide = wide.reindex(columns=[m for m in METHODS if m in wide.columns])
            if {"foci", "lfoci"} <= set(wide.columns):
                wide["FOCI / L-FOCI"] = wide["foci"] / wide["lfoci"]
            wide = wide.rename(columns={m: f"{LABELS[m]} (s)" for m in METHODS}).reset_index(
                names="attribute"
            )
            lines.append(f"### {experiment} ({int(part['n_rows'].iloc[0])} rows)\n")
            lines.append(wide.to_markdown(index=False, floatfmt=".4g"))
            lines.append("\nmean seconds over seeds per target attribute (the others are the candidates).\n")
        return "\n".join(lines)

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        experiments = list(dict.fromkeys(table["experiment"]))
        fig, axes = plt.subplots(len(experiments), 1, figsize=(12, 3.6 * len(experiments)), squeeze=False)
        for ax, experiment in zip(axes[:, 0], experiments, strict=True):
            part = table[table["experiment"] == experiment]
            attributes = list(dict.fromkeys(part["row"]))
            x = np.arange(len(attributes))
            methods = [m for m in METHODS if m in set(part["method"])]
            width = 0.8 / max(1, len(methods))
            for k, method in enumerate(methods):
                rows = part[part["method"] == method].set_index("row").reindex(attributes)
                ax.bar(
                    x + (k - (len(methods) - 1) / 2) * width,
                    rows["seconds_mean"].to_numpy(dtype=float),
                    width,
                    yerr=np.nan_to_num(rows["seconds_std"].to_numpy(dtype=float)),
                    capsize=2,
                    label=LABELS.get(method, method),
                )
            ax.set_xticks(x, attributes, rotation=70, ha="right", fontsize=7)
            ax.set_yscale("log")
            ax.set_ylabel("wall time (s)")
            ax.set_title(f"{experiment}: {int(part['n_rows'].iloc[0])} rows", fontsize=9)
            ax.legend(fontsize=8)
        finish_figure(fig, figure_heading(self.title, config), table, outputs)

    def describe(self, name: str, settings: Mapping[str, Any], config: Mapping[str, Any]) -> str:
        what = {
            "celeba": "CelebA list_attr_celeba.txt",
            "auto": "CelebA list_attr_celeba.txt if already present, else a STAND-IN generated table",
        }.get(settings.get("source", "celeba"), "STAND-IN generated attribute table")
        attributes = settings.get("attributes") or "all"
        return f"{name}: {what}, n_rows={settings.get('n_rows')}, attributes={attributes}"


ARTIFACT = LcFig3CodecSpeed()
