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

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.artifacts.figures import finish_figure
from unlearnbench.artifacts.summaries import read_runs, summarise
from unlearnbench.captions import with_hessian_note
from unlearnbench.config import experiments_of_kind
from unlearnbench.experiments.method_variants import seeds_of, variants

KIND = "text-removal"
METRICS = (
    "micro_f1",
    "class_f1",
    "macro_f1",
    "forget_recall",
    "mean_seconds",
    "mean_n_slices_selected",
    "mean_noise_sigma",
)


#: What each data source means for the paper's task, which is multilabel (Sec. 7.2).
SOURCE_NOTES = {
    "standin": "STAND-IN: synthetic LEDGAR-like corpus",
    "jsonl": "LEDGAR release corpus, multilabel as in the paper",
    "lex_glue": "DEVIATION: LexGLUE ledgar keeps one label per provision (single-label); the paper's task is multilabel",
}


def _labels(settings: Mapping[str, Any]) -> list[str]:
    return list((settings.get("removal") or {}).get("labels") or [])


class LcTable7bLedgar:
    name = "lc-table7b-ledgar"
    paper = "l-codec"
    title = "L-CODEC Fig. 7 (right): DistilBERT on LEDGAR, micro-F1 vs removals"

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        return [
            RunSpec(experiment, variant, seed)
            for experiment, settings in experiments_of_kind(config, KIND).items()
            for variant in variants(settings, _labels(settings))
            for seed in seeds_of(config, settings)
        ]

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        records = []
        for run in read_runs(run_files):
            for row in run["checkpoints"]:
                records.append(
                    {
                        "column": f"{run['removed_label']}, eps={run['epsilon']:g}",
                        "row": int(row["removals"]),
                        "experiment": run["experiment"],
                        "dataset": run["dataset"],
                        "stand_in": bool(run["stand_in"]),
                        "method": run["base_method"],
                        "removed_label": run["removed_label"],
                        "epsilon": float(run["epsilon"]),
                        "removals": int(row["removals"]),
                        "seed": run["seed"],
                        **{m: row.get(m) for m in METRICS},
                    }
                )
        frame = pd.DataFrame.from_records(records)
        frame[list(METRICS)] = frame[list(METRICS)].apply(pd.to_numeric, errors="coerce")
        keys = [
            "column",
            "row",
            "experiment",
            "dataset",
            "stand_in",
            "method",
            "removed_label",
            "epsilon",
            "removals",
        ]
        table = summarise(frame, keys, METRICS)
        return table.sort_values(
            ["experiment", "method", "removed_label", "epsilon", "removals"], kind="stable"
        )

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
        from unlearnbench.artifacts.figures import plt

        groups = list(table.groupby(["removed_label", "method"], sort=False))
        fig, axes = plt.subplots(1, len(groups), figsize=(5.0 * len(groups), 3.8), squeeze=False)
        colours = plt.get_cmap("viridis")
        for ax, ((label, method), part) in zip(axes[0], groups):
            epsilons = sorted(part["epsilon"].unique())
            for i, eps in enumerate(epsilons):
                sub = part[part["epsilon"] == eps]
                colour = colours(i / max(1, len(epsilons) - 1))
                for metric, style, what in (
                    ("micro_f1", "-", "overall micro-F1"),
                    ("class_f1", "--", "removed-label F1"),
                ):
                    y, s = (
                        sub[f"{metric}_mean"].to_numpy(float),
                        sub[f"{metric}_std"].fillna(0).to_numpy(float),
                    )
                    ax.plot(
                        sub["removals"],
                        y,
                        style,
                        marker="o",
                        markersize=3,
                        color=colour,
                        label=f"eps={eps:g}: {what}",
                    )
                    ax.fill_between(sub["removals"], y - s, y + s, color=colour, alpha=0.15)
            ax.set_title(f"removed: {label} ({method})", fontsize=9)
            ax.set_xlabel("number of removed provisions")
            ax.set_ylabel("test F1")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6)
        finish_figure(fig, self.title, table, config, outputs)

    def status(self, config: Mapping[str, Any]) -> str:
        experiments = experiments_of_kind(config, KIND)
        if not experiments:
            return "not configured in this profile"
        parts = []
        for name, s in experiments.items():
            source = (s.get("data") or {}).get("source", "standin")
            data = SOURCE_NOTES.get(source, f"LEDGAR ({source})")
            model = (s.get("model") or {}).get("pretrained") or "DistilBERT built from config"
            single = bool((s.get("removal") or {}).get("single_label_only", True))
            removed = (
                "only provisions whose sole label is removed" if single else "every provision with the label"
            )
            parts.append(
                f"{name} ({data}; {model}; labels {', '.join(_labels(s))}; removes {removed}; "
                f"epsilons {s.get('epsilons')})"
            )
        return with_hessian_note("configured: " + "; ".join(parts), experiments)


ARTIFACT = LcTable7bLedgar()
