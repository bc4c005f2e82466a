"""L-CODEC paper, Sec. 7.4 / appendix B.2.8 (text, no figure): re-ID utility while one person is unlearned.

Named after the section that states the result: the paper's Fig. 12 is activation maps
(artifact ``lc-fig8-fig12-reid-actmaps``), not mAP curves. Test mAP and Rank-1 (torchreid's evaluation) against the number of removed images of one
training identity, for each architecture and epsilon (the paper: 5e-4 and 0.1), with the
removed person's identity accuracy and retrieval mAP beside them. The paper states the
result in words only (epsilon 5e-4: fewer than 10 removals before mAP degrades; 0.1: all
images removed "without a noticeable degradation"), so there are no published numbers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.artifacts.figures import finish_figure
from unlearnbench.artifacts.summaries import read_runs, summarise
from unlearnbench.captions import with_hessian_note
from unlearnbench.config import experiments_of_kind
from unlearnbench.experiments.method_variants import seeds_of, variants

KIND = "reid-removal"
METRICS = (
    "mAP",
    "rank1",
    "rank5",
    "identity_accuracy",
    "forget_accuracy",
    "retain_accuracy",
    "identity_mAP",
    "identity_rank1",
    "mean_seconds",
    "mean_n_slices_selected",
    "mean_noise_sigma",
)
PANELS = (
    ("mAP", "test mAP"),
    ("rank1", "test Rank-1"),
    ("identity_accuracy", "removed person: ID accuracy"),
    ("identity_mAP", "removed person: retrieval mAP"),
)


def reid_runs(config: Mapping[str, Any]) -> list[RunSpec]:
    return [
        RunSpec(experiment, variant, seed)
        for experiment, settings in experiments_of_kind(config, KIND).items()
        for variant in variants(settings)
        for seed in seeds_of(config, settings)
    ]


def reid_status(config: Mapping[str, Any], only: Collection[str] | None = None) -> str:
    """One status line for the re-ID experiments (those named in ``only``, when given)."""
    experiments = {
        name: s for name, s in experiments_of_kind(config, KIND).items() if only is None or name in only
    }
    if not experiments:
        return "not configured in this profile"
    parts = []
    for name, s in experiments.items():
        data = s.get("data") or {}
        what = (
            "STAND-IN: synthetic persons in Market-1501 layout"
            if data.get("source", "standin") == "standin"
            else data.get("dataset", "market1501")
        )
        parts.append(f"{name} ({what}; {s['model']['arch']}; epsilons {s.get('epsilons')})")
    return with_hessian_note("configured: " + "; ".join(parts), experiments)


class LcSec74ReidMap:
    name = "lc-sec7-4-reid-map"
    paper = "l-codec"
    title = "L-CODEC Sec. 7.4 / B.2.8 (text): re-ID mAP / Rank-1 while one person is unlearned"

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        return reid_runs(config)

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        records = []
        for run in read_runs(run_files):
            for row in run["checkpoints"]:
                records.append(
                    {
                        "column": f"{run['arch']} {run['dataset_name']}, eps={run['epsilon']:g}",
                        "row": int(row["removals"]),
                        "experiment": run["experiment"],
                        "arch": run["arch"],
                        "dataset": run["dataset"],
                        "stand_in": bool(run["stand_in"]),
                        "method": run["base_method"],
                        "epsilon": float(run["epsilon"]),
                        "removals": int(row["removals"]),
                        "seed": run["seed"],
                        **{m: row.get(m) for m in METRICS},
                    }
                )
        frame = pd.DataFrame.from_records(records)
        frame[list(METRICS)] = frame[list(METRICS)].apply(pd.to_numeric, errors="coerce")
        keys = ["column", "row", "experiment", "arch", "dataset", "stand_in", "method", "epsilon", "removals"]
        return summarise(frame, keys, METRICS).sort_values(
            ["experiment", "method", "epsilon", "removals"], kind="stable"
        )

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        from unlearnbench.artifacts.figures import plt

        fig, axes = plt.subplots(1, len(PANELS), figsize=(4.0 * len(PANELS), 3.4), squeeze=False)
        for ax, (metric, label) in zip(axes[0], PANELS):
            for (_experiment, method, eps), part in table.groupby(
                ["experiment", "method", "epsilon"], sort=False
            ):
                y = part[f"{metric}_mean"].to_numpy(float)
                s = part[f"{metric}_std"].fillna(0).to_numpy(float)
                line = ax.plot(
                    part["removals"],
                    y,
                    marker="o",
                    markersize=3,
                    label=f"{part['arch'].iloc[0]} {method} eps={eps:g}",
                )[0]
                ax.fill_between(part["removals"], y - s, y + s, color=line.get_color(), alpha=0.15)
            ax.set_xlabel("images of the person removed")
            ax.set_ylabel(label)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=6)
        finish_figure(fig, self.title, table, config, outputs)

    def status(self, config: Mapping[str, Any]) -> str:
        return reid_status(config)


ARTIFACT = LcSec74ReidMap()
