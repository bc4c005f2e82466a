"""L-CODEC paper, Sec. 7.4 / appendix B.2.8 (text, no figure): re-ID utility while one person is unlearned.

Named after the section that states the result: the paper's Fig. 12 is activation maps
(artifact ``lc-fig8-fig12-reid-actmaps``), not mAP curves. Test mAP and Rank-1 (torchreid's evaluation) against the number of removed images of one
training identity, for each architecture and epsilon (the paper: 5e-4 and 0.1), with the
removed person's identity accuracy and retrieval mAP beside them. The paper states the
result in words only (epsilon 5e-4: fewer than 10 removals before mAP degrades; 0.1: all
images removed "without a noticeable degradation"), so there are no published numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from unlearnbench.artifacts import figures
from unlearnbench.artifacts.removal_curves import VariantCurves, with_standard_set


class LcSec74ReidMap(VariantCurves):
    """One curve per (experiment, method, epsilon): a run is one variant (``lcodec_eps0.1``)."""

    kind = "reid-removal"
    keys = ("column", "row", "experiment", "arch", "dataset", "stand_in", "method", "epsilon", "removals")
    metrics = with_standard_set(
        (
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
        ),
        leave_out=("test_accuracy",),  # the test people are no training identity: mAP and rank1 are its score
    )
    order = ("experiment", "method", "epsilon", "removals")

    def column_of(self, run: Mapping[str, Any]) -> str:
        return f"{run['arch']} {run['dataset_name']}, eps={run['epsilon']:g}"

    def describe(self, name: str, settings: Mapping[str, Any], config: Mapping[str, Any]) -> str:
        data = settings.get("data") or {}
        what = (
            "STAND-IN: synthetic persons in Market-1501 layout"
            if data.get("source", "standin") == "standin"
            else data.get("dataset", "market1501")
        )
        return f"{name} ({what}; {settings['model']['arch']}; epsilons {settings.get('epsilons')})"

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        fig, axes = figures.plt.subplots(
            1, len(self.panels), figsize=(4.0 * len(self.panels), 3.4), squeeze=False
        )
        for ax, (metric, label, _) in zip(axes[0], self.panels):
            for (_experiment, method, eps), part in table.groupby(
                ["experiment", "method", "epsilon"], sort=False
            ):
                curve = f"{part['arch'].iloc[0]} {method} eps={eps:g}"
                figures.mean_curve(ax, part["removals"], part, metric, 0.15, label=curve)
            figures.label_axis(ax, "images of the person removed", label, ylim=(-0.02, 1.02))
        axes[0][0].legend(fontsize=6)
        self.save(fig, table, config, outputs, seeds="seed(s)")


ARTIFACT = LcSec74ReidMap(
    name="lc-sec7-4-reid-map",
    title="L-CODEC Sec. 7.4 / B.2.8 (text): re-ID mAP / Rank-1 while one person is unlearned",
    panels=[
        ("mAP", "test mAP", False),
        ("rank1", "test Rank-1", False),
        ("identity_accuracy", "removed person: ID accuracy", False),
        ("identity_mAP", "removed person: retrieval mAP", False),
    ],
)
