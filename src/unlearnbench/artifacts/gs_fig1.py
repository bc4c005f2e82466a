"""Gradient-surgery paper, Figure 1: generated samples before and after unlearning.

The table lists, per experiment (MNIST138 and CelebA columns), the BEFORE and
gradient-surgery runs of the figure seed and the sample-grid files those runs saved
(decoded from the same latent codes), with the run's fratio. Drawing only tiles the saved
images (grayscale or RGB); a stand-in dataset is named as such in the panel titles.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torchvision.utils import make_grid

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.artifacts.figures import figure_heading, finish_figure, plt
from unlearnbench.artifacts.gs_table1 import forget_label, generative_status, table_experiments
from unlearnbench.artifacts.summaries import read_runs

PANELS = (("before", "original"), ("gradient-surgery", "unlearned (gradient surgery)"))


class GsFig1:
    name = "gs-fig1"
    paper = "gradient-surgery"
    title = "Gradient surgery, Figure 1: samples before / after unlearning"
    figure_arrays = (".samples.npz",)  # the sample grids the runs saved

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        seed = int(config["seeds"][0])
        return [
            RunSpec(experiment, method, seed)
            for experiment in table_experiments(config)
            for method, _ in PANELS
        ]

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        rows = []
        for path, run in zip(run_files, read_runs(run_files)):
            rows.append(
                {
                    "column": run["paper_column"],
                    "experiment": run["experiment"],
                    "dataset": run["dataset"],
                    "stand_in": run["stand_in"],
                    "forget": forget_label(run["forget_class"]),
                    "method": run["method"],
                    "seed": run["seed"],
                    "fratio": run["metrics"]["fratio"],
                    "samples_file": str(Path(path).with_name(run["samples_file"])),
                }
            )
        return pd.DataFrame.from_records(rows)

    def markdown(self, table: pd.DataFrame) -> str:
        return table.to_markdown(index=False)

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        experiments = list(dict.fromkeys(table["experiment"]))
        fig, axes = plt.subplots(
            len(experiments), len(PANELS), figsize=(4.2 * len(PANELS), 4.4 * len(experiments)), squeeze=False
        )
        for i, experiment in enumerate(experiments):
            part = table[table["experiment"] == experiment].set_index("method")
            for j, (method, label) in enumerate(PANELS):
                ax = axes[i][j]
                ax.axis("off")
                if method not in part.index:
                    ax.set_title(f"{label}: run missing", fontsize=8)
                    continue
                row = part.loc[method]
                with np.load(row["samples_file"]) as archive:
                    images = torch.from_numpy(archive["images"])
                grid = make_grid(images, nrow=int(np.ceil(np.sqrt(len(images)))), padding=1, pad_value=1.0)
                ax.imshow(grid.permute(1, 2, 0).clamp(0, 1).numpy(), vmin=0, vmax=1)
                data = textwrap.fill(
                    f"{row['dataset']}" + (" [STAND-IN]" if bool(row["stand_in"]) else ""), 60
                )
                ax.set_title(
                    f"{row['column']} {label}\n{data}\nforget {row['forget']}, fratio {row['fratio']:.3f}",
                    fontsize=7,
                )
        finish_figure(
            fig, figure_heading(self.title, config, f"seed {table['seed'].iloc[0]}"), table, outputs
        )

    def status(self, config: Mapping[str, Any]) -> str:
        return generative_status(config)


ARTIFACT = GsFig1()
