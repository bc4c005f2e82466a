"""L-CODEC paper, Fig. 7 (left): scrubbing one identity from VGGFace, epsilon 1e-5.

Scrubbed (the identity's removed images, all its training images and its held-out
images) and residual accuracies against the number of removals, every 10 removals, for
each ``face-scrubbing`` experiment that names this artifact. Paper: VGGFace fine-tuned on
100 images per identity; the identity's images removed one at a time in random order with
the ``cheap`` L-FOCI selection (one slice); epsilon 1e-5 (Sec. 7.3; the appendix says
1e-4), delta 0.01, 100 perturbations. "The performance on that class drops faster than on
the residual set" is what the figure shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from unlearnbench.artifacts import figures
from unlearnbench.artifacts.removal_curves import RemovalCurves, with_standard_set
from unlearnbench.experiments.sequential_removal import WINDOW_METRICS

CURVES = (
    ("forget_accuracy", "scrubbed: removed images", "-"),
    ("identity_accuracy", "scrubbed: identity, all training images", "--"),
    ("identity_test_accuracy", "scrubbed: identity, held-out images", ":"),
    ("residual_accuracy", "residual (retain set)", "-"),
    ("test_accuracy", "held-out, other identities", "--"),
)


class VGGFaceFigure(RemovalCurves):
    kind = "face-scrubbing"
    keys = ("experiment", "identity", "dataset", "stand_in", "weights", "method", "removals")
    metrics = with_standard_set((*(metric for metric, _, _ in CURVES), "mia_auc", *WINDOW_METRICS))
    column = "experiment"

    def derived(self, run: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        return {"weights": "VGGFace" if run.get("weights") else "random init"}

    def describe(self, name: str, settings: Mapping[str, Any], config: Mapping[str, Any]) -> str:
        from unlearnbench.data import is_stand_in

        data = (
            f"STAND-IN: {settings['dataset']} instead of the VGGFace images"
            if is_stand_in(settings["dataset"], config.get("datasets"))
            else "identity folders"
        )
        weights = "VGGFace weights" if settings.get("weights") else "random init, no VGGFace weights"
        return f"{name} ({data}; {weights}; identity {settings['forget_identity']}; {', '.join(settings['methods'])})"

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        """One panel per (experiment, method): every scrubbed and residual accuracy."""
        groups = list(table.groupby(["experiment", "method"], sort=False))
        fig, axes = figures.plt.subplots(
            1, max(1, len(groups)), figsize=(5.6 * max(1, len(groups)), 3.8), squeeze=False
        )
        for ax, ((experiment, method), part) in zip(axes[0], groups):
            part = part.sort_values("removals")
            for metric, label, style in CURVES:
                if f"{metric}_mean" in part and part[f"{metric}_mean"].notna().any():
                    figures.mean_curve(
                        ax, part["removals"].to_numpy(), part, metric, 0.12, style, label=label
                    )
            ax.set_title(
                f"{experiment}: {method}, identity {part['identity'].iloc[0]} ({part['weights'].iloc[0]})",
                fontsize=8,
            )
            figures.label_axis(ax, "number of removals", "accuracy", ylim=(-0.02, 1.02), legend=7)
        self.save(fig, table, config, outputs)

    def markdown(self, table: pd.DataFrame) -> str:
        columns = [c for c in ("experiment", "method", "removals", "forget_accuracy_mean", "identity_accuracy_mean",
                               "identity_test_accuracy_mean", "residual_accuracy_mean", "test_accuracy_mean",
                               "mia_auc_mean", "seconds_per_removal_mean", "n_seeds") if c in table]  # fmt: skip
        return table[columns].to_markdown(index=False, floatfmt=".4g")


ARTIFACT = VGGFaceFigure(
    name="lc-fig7-vggface",
    title="L-CODEC Fig. 7 (left): VGGFace, scrubbed and residual accuracy against removals",
)
