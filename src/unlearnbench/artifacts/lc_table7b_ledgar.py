"""L-CODEC paper, Fig. 7 (right) / "Table 7b": scrubbing DistilBERT on LEDGAR.

Test micro-F1 over all labels and F1 of the removed label against the number of removed
provisions, for the labels "Governing Laws" (highest test support) and "Terminations"
(lowest) and several epsilons; mean and std over seeds. The paper's claim: the removed
label's F1 falls off rapidly while the overall micro-F1 changes gradually, and a larger
epsilon supports more removals. The paper's table is an image whose numbers the text does
not give, so there are no published values to compare against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from unlearnbench.artifacts import figures
from unlearnbench.artifacts.removal_curves import VariantCurves, with_standard_set

#: What each data source means for the paper's task, which is multilabel (Sec. 7.2).
SOURCE_NOTES = {
    "standin": "STAND-IN: synthetic LEDGAR-like corpus",
    "jsonl": "LEDGAR release corpus, multilabel as in the paper",
    "lex_glue": "DEVIATION: LexGLUE ledgar keeps one label per provision (single-label); the paper's task is multilabel",
}


def _labels(settings: Mapping[str, Any]) -> list[str]:
    return list((settings.get("removal") or {}).get("labels") or [])


class LcTable7bLedgar(VariantCurves):
    """One curve per (removed label, epsilon): a run is one variant (``lcodec_eps0.1_<label>``)."""

    kind = "text-removal"
    keys = (
        "column",
        "row",
        "experiment",
        "dataset",
        "stand_in",
        "method",
        "removed_label",
        "epsilon",
        "removals",
    )
    metrics = with_standard_set(
        (
            "micro_f1",
            "class_f1",
            "macro_f1",
            "forget_recall",
            "mean_seconds",
            "mean_n_slices_selected",
            "mean_noise_sigma",
        ),
        "micro_f1",
        leave_out=("test_micro_f1",),  # the micro_f1 column: same thresholds, same test split
    )
    order = ("experiment", "method", "removed_label", "epsilon", "removals")

    def targets(self, settings: Mapping[str, Any]) -> list[str]:
        return _labels(settings)

    def column_of(self, run: Mapping[str, Any]) -> str:
        return f"{run['removed_label']}, eps={run['epsilon']:g}"

    def markdown(self, table: pd.DataFrame) -> str:
        """One block per removed label and method: rows = removals, columns = epsilon x (overall, class)."""
        blocks = []
        for (label, method), part in table.groupby(["removed_label", "method"], sort=False):
            cells = {}
            for eps, sub in part.groupby("epsilon"):
                for metric, short in (("micro_f1", "micro-F1"), ("class_f1", f"F1 {label}")):
                    cells[f"eps={eps:g} {short}"] = pd.Series(
                        [
                            f"{m:.3f}" + (f" ({s:.3f})" if pd.notna(s) else "")
                            for m, s in zip(sub[f"{metric}_mean"], sub[f"{metric}_std"])
                        ],
                        index=sub["removals"].to_numpy(),
                    )
            frame = pd.DataFrame(cells)
            frame.index.name = "removals"
            blocks.append(
                f"### removed label: {label} ({method})\n\n{frame.reset_index().to_markdown(index=False)}\n"
            )
        return "\n".join(blocks)

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        """One panel per (removed label, method): overall and removed-label F1, one colour per epsilon."""
        groups = list(table.groupby(["removed_label", "method"], sort=False))
        fig, axes = figures.plt.subplots(1, len(groups), figsize=(5.0 * len(groups), 3.8), squeeze=False)
        colours = figures.plt.get_cmap("viridis")
        for ax, ((label, method), part) in zip(axes[0], groups):
            epsilons = sorted(part["epsilon"].unique())
            for i, eps in enumerate(epsilons):
                sub = part[part["epsilon"] == eps]
                colour = colours(i / max(1, len(epsilons) - 1))
                for metric, style, what in (
                    ("micro_f1", "-", "overall micro-F1"),
                    ("class_f1", "--", "removed-label F1"),
                ):
                    figures.mean_curve(
                        ax,
                        sub["removals"],
                        sub,
                        metric,
                        0.15,
                        style,
                        color=colour,
                        label=f"eps={eps:g}: {what}",
                    )
            ax.set_title(f"removed: {label} ({method})", fontsize=9)
            figures.label_axis(ax, "number of removed provisions", "test F1", ylim=(-0.02, 1.02), legend=6)
        self.save(fig, table, config, outputs, seeds="seed(s)")

    def describe(self, name: str, settings: Mapping[str, Any], config: Mapping[str, Any]) -> str:
        source = (settings.get("data") or {}).get("source", "standin")
        data = SOURCE_NOTES.get(source, f"LEDGAR ({source})")
        model = (settings.get("model") or {}).get("pretrained") or "DistilBERT built from config"
        single = bool((settings.get("removal") or {}).get("single_label_only", True))
        removed = (
            "only provisions whose sole label is removed" if single else "every provision with the label"
        )
        return (
            f"{name} ({data}; {model}; labels {', '.join(_labels(settings))}; removes {removed}; "
            f"epsilons {settings.get('epsilons')})"
        )


ARTIFACT = LcTable7bLedgar(
    name="lc-table7b-ledgar",
    title="L-CODEC Fig. 7 (right): DistilBERT on LEDGAR, micro-F1 vs removals",
)
