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

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.captions import with_hessian_note
from unlearnbench.experiments import face_scrubbing, sequential_removal

CURVES = (
    ("forget_accuracy", "scrubbed: removed images", "-"),
    ("identity_accuracy", "scrubbed: identity, all training images", "--"),
    ("identity_test_accuracy", "scrubbed: identity, held-out images", ":"),
    ("residual_accuracy", "residual (retain set)", "-"),
    ("test_accuracy", "held-out, other identities", "--"),
)


class VGGFaceFigure:
    name = "lc-fig7-vggface"
    paper = "l-codec"
    title = "L-CODEC Fig. 7 (left): VGGFace, scrubbed and residual accuracy against removals"

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        return [
            RunSpec(name, method, seed)
            for name, s in face_scrubbing.experiments_for(config, self.name).items()
            for method in s["methods"]
            for seed in sequential_removal.seeds_of(config, s)
        ]

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        return face_scrubbing.aggregate_runs(run_files)

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        from unlearnbench.artifacts.figures import plt, save_figure
        from unlearnbench.artifacts.summaries import title_with_data_note

        groups = list(table.groupby(["experiment", "method"], sort=False))
        fig, axes = plt.subplots(
            1, max(1, len(groups)), figsize=(5.6 * max(1, len(groups)), 3.8), squeeze=False
        )
        for ax, ((experiment, method), part) in zip(axes[0], groups):
            part = part.sort_values("removals")
            x = part["removals"].to_numpy()
            for metric, label, style in CURVES:
                column = f"{metric}_mean"
                if column not in part or part[column].isna().all():
                    continue
                y = part[column].to_numpy(dtype=float)
                std = part[f"{metric}_std"].fillna(0.0).to_numpy(dtype=float)
                line = ax.plot(x, y, style, marker="o", markersize=3, label=label)[0]
                ax.fill_between(x, y - std, y + std, color=line.get_color(), alpha=0.12)
            ax.set_title(
                f"{experiment}: {method}, identity {part['identity'].iloc[0]} ({part['weights'].iloc[0]})",
                fontsize=8,
            )
            ax.set_xlabel("number of removals")
            ax.set_ylabel("accuracy")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        seeds = int(table["n_seeds"].max()) if len(table) else 0
        fig.suptitle(
            title_with_data_note(
                f"{self.title} (profile {config.get('profile', '?')}, {seeds} seeds)", table
            ),
            fontsize=9,
        )
        fig.tight_layout()
        save_figure(fig, outputs)

    def markdown(self, table: pd.DataFrame) -> str:
        columns = [c for c in ("experiment", "method", "removals", "forget_accuracy_mean", "identity_accuracy_mean",
                               "identity_test_accuracy_mean", "residual_accuracy_mean", "test_accuracy_mean",
                               "mia_auc_mean", "seconds_per_removal_mean", "n_seeds") if c in table]  # fmt: skip
        return table[columns].to_markdown(index=False, floatfmt=".4g")

    def status(self, config: Mapping[str, Any]) -> str:
        from unlearnbench.data import is_stand_in

        experiments = face_scrubbing.experiments_for(config, self.name)
        if not experiments:
            return "not configured in this profile"
        parts = []
        for name, s in experiments.items():
            data = (
                f"STAND-IN: {s['dataset']} instead of the VGGFace images"
                if is_stand_in(s["dataset"], config.get("datasets"))
                else "identity folders"
            )
            weights = "VGGFace weights" if s.get("weights") else "random init, no VGGFace weights"
            parts.append(
                f"{name} ({data}; {weights}; identity {s['forget_identity']}; {', '.join(s['methods'])})"
            )
        return with_hessian_note("configured: " + "; ".join(parts), experiments)


ARTIFACT = VGGFaceFigure()
