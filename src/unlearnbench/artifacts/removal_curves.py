"""Artifacts that read removal curves: metrics at the checkpoints of removal runs, over seeds.

Every removal kind (sequential MNIST, the CIFAR zoo, faces, text, re-ID) writes one run file
per (experiment, method, seed) whose ``checkpoints`` hold the metrics after ``removals``
removals. The artifacts drawn from them differ only in which blocks they read, which fields
tell one curve from another, which metrics they average and how they draw, so
:class:`RemovalCurves` does the rest once (runs, table, status line) and an artifact module
holds its title, its panels and what is special about it. :class:`MnistCurves` and
:class:`CifarZooCurves` are the two families that several figures share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from unlearnbench.artifacts.summaries import KindArtifact, read_runs, seeds_of, summarise
from unlearnbench.experiments.cifar_zoo import model_label
from unlearnbench.experiments.method_variants import variants
from unlearnbench.experiments.sequential_removal import WINDOW_METRICS
from unlearnbench.metrics.removal import metric_names

#: One panel of a figure: (metric, axis label, log scale).
Panel = tuple[str, str, bool]
#: Panels several figures share.
VALIDATION_ACCURACY: Panel = ("test_accuracy", "validation accuracy", False)
RESIDUAL_ACCURACY: Panel = ("residual_accuracy", "residual (retain) accuracy", False)
FORGET_ACCURACY: Panel = ("forget_accuracy", "accuracy on the removed samples", False)
SAMPLE_GRADIENT_NORM: Panel = ("sample_gradient_norm_after", "sample gradient norm (after removal)", False)
RESIDUAL_NORM_DATA: Panel = ("residual_gradient_norm_data", "residual gradient norm (data loss)", True)
RESIDUAL_NORM_REGULARISED: Panel = (
    "residual_gradient_norm_regularised",
    "residual gradient norm (regularised objective)",
    True,
)


def with_standard_set(
    metrics: Sequence[str], score_name: str = "accuracy", retrain: bool = False, leave_out: Sequence[str] = ()
) -> tuple[str, ...]:
    """``metrics`` and then the keys of the standard checkpoint set (:func:`metric_names`) not among
    them nor in ``leave_out``: every removal table carries the set, its own columns keep their place."""
    added = [m for m in metric_names(score_name, retrain) if m not in metrics and m not in leave_out]
    return (*metrics, *added)


#: The checkpoint metrics of the sequential-removal loop (MNIST and the CIFAR zoo), in table order.
CURVE_METRICS = with_standard_set(
    (
        "residual_accuracy",
        "forget_accuracy",
        "test_accuracy",
        "residual_gradient_norm_data",
        "residual_gradient_norm_regularised",
        "mia_auc",
        "distance_to_retrain",
        "output_kl_to_retrain",
        "retrain_seconds",
        *WINDOW_METRICS,
        "reverted_so_far",
    ),
    retrain=True,
)


class RemovalCurves(KindArtifact):
    """An artifact whose table is the mean, std and n over seeds of checkpoint metrics.

    A subclass names the experiment ``kind`` it reads (runs and status line as every
    :class:`~unlearnbench.artifacts.summaries.KindArtifact`), the table's ``keys`` (what tells one
    point of a curve from another; a key not made by :meth:`derived` is the run field of that
    name) and its ``metrics``; it adds ``describe`` (its part of the status line) and ``draw``.
    The rest are choices with a default: ``by_artifact_key`` (read only the blocks whose
    ``artifact`` key names this artifact, else every block of the kind), ``skipped_methods``
    (methods another artifact draws), ``keep_unmeasured`` (keep a metric no run measured, as an
    empty column), ``column`` (the key the comparison report addresses a cell by, with
    ``row`` = ``<method> @ <removals>``) and ``order`` (a stable sort of the table).
    """

    paper = "l-codec"
    kind: str
    keys: tuple[str, ...]
    metrics: tuple[str, ...]
    by_artifact_key = True
    skipped_methods: tuple[str, ...] = ()
    keep_unmeasured = False
    column: str | None = None
    order: tuple[str, ...] = ()

    def __init__(self, name: str, title: str, panels: Sequence[Panel] = ()) -> None:
        self.name = name
        self.title = title
        self.panels = list(panels)

    # ------------------------------------------------------------------ which runs

    def methods(self, settings: Mapping[str, Any]) -> Iterable[str]:
        return [m for m in settings["methods"] if m not in self.skipped_methods]

    # ------------------------------------------------------------------ the table

    def derived(self, run: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        """Fields of a row that are not a run field as it is (a label, a converted value)."""
        return {}

    def record(self, run: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        """One row before averaging: the keys, the seed and the checkpoint's metrics."""
        derived = {
            "stand_in": bool(run["stand_in"]),
            "removals": checkpoint["removals"],
            **self.derived(run, checkpoint),
        }
        keys = {key: derived[key] if key in derived else run[key] for key in self.keys}
        metrics = {metric: checkpoint.get(metric) for metric in self.metrics}
        return {**keys, "seed": run["seed"], **metrics, **derived}

    def extra_columns(self, table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
        """Columns beyond mean/std/n that need the per-seed ``frame`` (none by default)."""
        return table

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        records = [self.record(run, row) for run in read_runs(run_files) for row in run["checkpoints"]]
        frame = pd.DataFrame.from_records(records)
        if len(frame) and self.skipped_methods:
            frame = frame[~frame["method"].isin(list(self.skipped_methods))].copy()
        if frame.empty:
            raise ValueError(f"{self.name}: no checkpoint to aggregate in {len(run_files)} run file(s)")
        numeric = frame[list(self.metrics)].apply(pd.to_numeric, errors="coerce")
        metrics = [m for m in self.metrics if self.keep_unmeasured or numeric[m].notna().any()]
        frame[metrics] = numeric[metrics]
        table = self.extra_columns(summarise(frame, self.keys, metrics), frame)
        if self.column is not None:
            table.insert(0, "row", [f"{m} @ {r}" for m, r in zip(table["method"], table["removals"])])
            table.insert(0, "column", table[self.column])
        return table.sort_values(list(self.order), kind="stable") if self.order else table

    # ------------------------------------------------------------------ drawing

    def save(
        self,
        fig: Any,
        table: pd.DataFrame,
        config: Mapping[str, Any],
        outputs: Sequence[Path],
        seeds: str = "seeds",
        rect: tuple[float, float, float, float] | None = None,
    ) -> None:
        """Title the figure ``<title> (profile <p>, <n> <seeds>)`` (with the stand-in note), lay it out, save it."""
        from unlearnbench.artifacts import figures

        heading = figures.figure_heading(self.title, config, f"{figures.seed_count(table)} {seeds}")
        figures.finish_figure(fig, heading, table, outputs, rect=rect)

    def metric_panels(
        self,
        table: pd.DataFrame,
        curves: Sequence[str],
        label: Callable[[Any], str],
        size: tuple[float, float],
        alpha: float,
        sort: bool = False,
    ) -> tuple[Any, Any]:
        """One axis per panel, one curve (labelled ``label(key)``) per ``curves`` key of the table
        against the number of removals; curves a metric does not have are left out."""
        from unlearnbench.artifacts.figures import label_axis, mean_curve, plt

        fig, axes = plt.subplots(
            1, len(self.panels), figsize=(size[0] * len(self.panels), size[1]), squeeze=False
        )
        for ax, (metric, axis_label, log) in zip(axes[0], self.panels, strict=True):
            column = f"{metric}_mean"
            for key, part in table.groupby(list(curves), sort=False):
                if column not in part or part[column].isna().all():
                    continue
                part = part.sort_values("removals") if sort else part
                mean_curve(ax, part["removals"].to_numpy(), part, metric, alpha, label=label(key))
            label_axis(ax, "number of removals", axis_label, log=log)
        return fig, axes[0]


class VariantCurves(RemovalCurves):
    """Kinds whose runs are method variants (text, re-ID: ``lcodec_eps0.1[_<label>]``, see
    :mod:`unlearnbench.experiments.method_variants`): every block of the kind is read, a row's
    ``method`` is the variant's base method and its ``epsilon`` a key; ``column_of(run)`` labels
    the run's curve and ``row`` is its number of removals."""

    by_artifact_key = False
    keep_unmeasured = True

    def targets(self, settings: Mapping[str, Any]) -> list[str] | None:
        """What each variant removes besides (the LEDGAR labels); None: one variant per method and epsilon."""
        return None

    def methods(self, settings: Mapping[str, Any]) -> Iterable[str]:
        return variants(settings, self.targets(settings))

    def column_of(self, run: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def derived(self, run: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "column": self.column_of(run),
            "row": int(checkpoint["removals"]),
            "method": run["base_method"],
            "epsilon": float(run["epsilon"]),
            "removals": int(checkpoint["removals"]),
        }


class MnistCurves(RemovalCurves):
    """``sequential-removal`` runs (L-CODEC Fig. 5 left, 6, 10, D.4): one panel per metric, one
    curve per method (and per experiment, with its weight decay, when several share the figure)."""

    kind = "sequential-removal"
    keys = ("experiment", "dataset", "stand_in", "weight_decay", "method", "removals")
    metrics = CURVE_METRICS
    paper_dataset = "mnist"

    def derived(self, run: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        return {"reverted_so_far": checkpoint.get("reverted_so_far", 0)}  # retraining reverts nothing

    def describe(self, name: str, settings: Mapping[str, Any], config: Mapping[str, Any]) -> str:
        from unlearnbench.data import dataset_base

        base = dataset_base(settings["dataset"], config.get("datasets"))
        data = (
            "paper data"
            if base == self.paper_dataset
            else f"STAND-IN: {base} instead of {self.paper_dataset}"
        )
        return (
            f"{name} ({data}; {settings['removals']} removals; {', '.join(settings['methods'])}; "
            f"{len(seeds_of(config, settings))} seeds)"
        )

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        several = table["experiment"].nunique() > 1
        fig, axes = self.metric_panels(
            table,
            ["experiment", "weight_decay", "method"],
            lambda key: f"{key[2]} [{key[0]}, wd {key[1]:g}]" if several else key[2],
            size=(4.2, 3.4),
            alpha=0.2,
        )
        axes[0].legend(fontsize=7)
        self.save(fig, table, config, outputs, rect=(0, 0, 1, 0.88))


class CifarZooCurves(RemovalCurves):
    """``cifar-zoo`` runs (L-CODEC Fig. 5 right, Fig. 11): one model per block. Each row also says
    whether any seed's retraining ended an epoch on a batch of one sample at that checkpoint
    (``final_batch_of_one``, the paper's batch-norm dips) and how many seeds skipped it."""

    kind = "cifar-zoo"
    keys = (
        "experiment",
        "model",
        "model_label",
        "n_parameters",
        "dataset",
        "stand_in",
        "weight_decay",
        "method",
        "removals",
    )
    metrics = CURVE_METRICS
    column = "model_label"

    def derived(self, run: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "final_batch_size": checkpoint.get("final_batch_size"),
            "skipped": bool(checkpoint.get("skipped")),
        }

    def extra_columns(self, table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.assign(final_batch_of_one=frame["final_batch_size"] == 1)
        grouped = frame.groupby(list(self.keys), sort=False)
        table["final_batch_of_one"] = grouped["final_batch_of_one"].any().to_numpy()
        table["skipped_seeds"] = grouped["skipped"].sum().to_numpy().astype(int)
        return table

    def describe(self, name: str, settings: Mapping[str, Any], config: Mapping[str, Any]) -> str:
        from unlearnbench.data import is_stand_in

        data = (
            f"STAND-IN: {settings['dataset']} instead of CIFAR-10"
            if is_stand_in(settings["dataset"], config.get("datasets"))
            else "paper data"
        )
        return (
            f"{name} ({model_label(settings)}; {data}; {settings['removals']} removals; "
            f"{', '.join(settings['methods'])}; {len(seeds_of(config, settings))} seeds)"
        )
