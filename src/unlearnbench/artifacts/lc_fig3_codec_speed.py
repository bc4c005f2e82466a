"""L-CODEC paper, Fig. 3 (and Fig. 9): FOCI vs L-FOCI wall time per CelebA attribute.

Each attribute in turn is the target and the others the candidates; one pair of bars per
attribute (FOCI, L-FOCI), mean over seeds (each seed: its own row subsample and tie-breaking),
log scale as the paper's figure. The table has one row per (attribute, method) with
``seconds_mean``, ``seconds_std`` and ``n_seeds``, and the rows and attributes actually used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.artifacts.figures import figure_heading, finish_figure, plt
from unlearnbench.artifacts.summaries import (
    configured_methods,
    experiments_for,
    read_runs,
    run_grid,
    status_line,
    summarise,
)
from unlearnbench.experiments.codec_speed import METHODS

KIND = "codec-speed"
LABELS = {"foci": "FOCI (CODEC)", "lfoci": "L-FOCI (L-CODEC)"}


methods_of = configured_methods(METHODS, KIND)


class LcFig3CodecSpeed:
    name = "lc-fig3-codec-speed"
    paper = "l-codec"
    title = "L-CODEC, Fig. 3/9: FOCI vs L-FOCI run time per CelebA attribute"

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        return run_grid(config, experiments_for(config, KIND), methods_of)

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        records = []
        for run in read_runs(run_files):
            m = run["metrics"]
            for attribute, cell in m["per_attribute"].items():
                if "seconds" not in cell:
                    continue  # constant in that subsample
                records.append(
                    {
                        "column": run["method"],
                        "row": attribute,
                        "experiment": run["experiment"],
                        "method": run["method"],
                        "stand_in": bool(run.get("stand_in", False)),
                        "n_rows": int(m["n_rows"]),
                        "seed": run["seed"],
                        "seconds": float(cell["seconds"]),
                        "n_selected": len(cell["selected"]),
                    }
                )
        if not records:
            raise ValueError("no codec-speed runs with timed attributes to aggregate")
        frame = pd.DataFrame.from_records(records)
        keys = ["experiment", "row", "column", "method", "stand_in", "n_rows"]
        table = summarise(frame, keys, ["seconds", "n_selected"])
        attribute_order = list(dict.fromkeys(frame["row"]))
        table["_a"] = table["row"].map(attribute_order.index)
        table["_m"] = table["method"].map(lambda x: METHODS.index(x) if x in METHODS else len(METHODS))
        return (
            table.sort_values(["experiment", "_a", "_m"], kind="stable")
            .drop(columns=["_a", "_m"])
            .reset_index(drop=True)
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

    def status(self, config: Mapping[str, Any]) -> str:
        return status_line(experiments_for(config, KIND), describe)


def describe(name: str, settings: Mapping[str, Any]) -> str:
    what = {
        "celeba": "CelebA list_attr_celeba.txt",
        "auto": "CelebA list_attr_celeba.txt if already present, else a STAND-IN generated table",
    }.get(settings.get("source", "celeba"), "STAND-IN generated attribute table")
    return (
        f"{name}: {what}, n_rows={settings.get('n_rows')}, attributes={settings.get('attributes') or 'all'}"
    )


ARTIFACT = LcFig3CodecSpeed()
