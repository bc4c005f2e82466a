"""L-CODEC paper, Fig. 8 and Fig. 12: activation maps of a re-ID model before and after scrubbing.

Both figures are on Market-1501 (Fig. 8: ResNet50; Fig. 12: MLFN and MobileNet_V2), so
this artifact draws the re-ID experiments on Market-1501 (or its stand-in) only; the
others (MSMT17, PRID, GRID) appear in ``lc-sec7-4-reid-map``. For each such experiment
and epsilon (first seed), a run saved the activation maps of
one image of the removed person and one image of another training person, before and
after the removals (``seed<k>.actmaps.npz``). The figure tiles them as the paper does:
for each person a triplet (image, activation map, overlay), one row before and one after
scrubbing. The table lists the map files and how much each map changed (1 - cosine
similarity and relative L2 change of the un-normalised maps): the paper's claim is a
large change for the scrubbed person and a small one for the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.artifacts.figures import figure_heading, finish_figure
from unlearnbench.artifacts.lc_sec7_4_reid_map import ARTIFACT as CURVES
from unlearnbench.artifacts.summaries import read_runs, status_line

#: The dataset of the paper's activation-map figures (Fig. 8 and Fig. 12).
FIGURE_DATASET = "market1501"
PEOPLE = (("scrubbed", 0, "scrubbed person"), ("not_scrubbed", 1, "other person (not scrubbed)"))


class LcFig8Fig12ReidActmaps:
    name = "lc-fig8-fig12-reid-actmaps"
    paper = "l-codec"
    title = "L-CODEC Fig. 8/12: re-ID activation maps before / after scrubbing a person"
    figure_arrays = (".actmaps.npz",)  # the activation maps the runs saved

    @staticmethod
    def experiments(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        """The re-ID experiments on the figures' dataset (Market-1501 or its stand-in)."""
        return {
            name: settings
            for name, settings in CURVES.experiments(config).items()
            if (settings.get("data") or {}).get("dataset", FIGURE_DATASET) == FIGURE_DATASET
        }

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        on_market = self.experiments(config)
        specs = [spec for spec in CURVES.runs(config) if spec.experiment in on_market]
        first: dict[str, int] = {}
        for spec in specs:
            first.setdefault(spec.experiment, spec.seed)
        return [spec for spec in specs if spec.seed == first[spec.experiment]]

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        rows = []
        for path, run in zip(run_files, read_runs(run_files)):
            for key, _, person in PEOPLE:
                change = run["actmap_change"][key]
                rows.append(
                    {
                        "column": f"{run['arch']} eps={run['epsilon']:g}",
                        "row": person,
                        "experiment": run["experiment"],
                        "arch": run["arch"],
                        "dataset": run["dataset"],
                        "stand_in": bool(run["stand_in"]),
                        "method": run["base_method"],
                        "epsilon": float(run["epsilon"]),
                        "seed": run["seed"],
                        "removals": int(run["checkpoints"][-1]["removals"]),
                        "person": key,
                        "cosine_distance": change["cosine_distance"],
                        "relative_l2": change["relative_l2"],
                        "layer": run["actmap_layer"],
                        "actmaps_file": str(Path(path).with_name(run["actmaps_file"])),
                    }
                )
        return pd.DataFrame.from_records(rows)

    def markdown(self, table: pd.DataFrame) -> str:
        return table.drop(columns=["actmaps_file"]).to_markdown(index=False)

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        from unlearnbench.artifacts.figures import plt
        from unlearnbench.metrics.activation_maps import normalise_map, overlay

        runs = list(table.groupby(["experiment", "method", "epsilon"], sort=False))
        fig, axes = plt.subplots(2 * len(runs), 6, figsize=(9.0, 3.6 * len(runs)), squeeze=False)
        for r, ((_experiment, method, eps), part) in enumerate(runs):
            with np.load(part["actmaps_file"].iloc[0]) as archive:
                images, maps = archive["images"], {"before": archive["before"], "after": archive["after"]}
            for t, when in enumerate(("before", "after")):
                row = axes[2 * r + t]
                for key, index, person in PEOPLE:
                    offset = 3 * index
                    change = part.loc[part["person"] == key, "cosine_distance"].iloc[0]
                    panels = (
                        images[index],
                        normalise_map(maps[when][index]),
                        overlay(images[index], maps[when][index]),
                    )
                    for j, panel in enumerate(panels):
                        ax = row[offset + j]
                        ax.imshow(panel, cmap="jet" if j == 1 else None, vmin=0, vmax=1)
                        ax.set_xticks([])
                        ax.set_yticks([])
                    row[offset].set_ylabel(when, fontsize=8)
                    if t == 0:
                        row[offset + 1].set_title(
                            f"{person}\n{part['arch'].iloc[0]} {method} eps={eps:g}", fontsize=7
                        )
                    else:
                        row[offset + 1].set_title(f"map change (1-cos) {change:.3g}", fontsize=7)
        finish_figure(
            fig, figure_heading(self.title, config) + "; triplets: image, map, overlay", table, outputs
        )

    def status(self, config: Mapping[str, Any]) -> str:
        on_market = self.experiments(config)
        if not on_market:
            return "not configured in this profile (no re-ID experiment on Market-1501)"
        return status_line(on_market, lambda name, s: CURVES.describe(name, s, config)) + " (first seed)"


ARTIFACT = LcFig8Fig12ReidActmaps()
