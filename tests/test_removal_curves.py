"""The base of the removal-curve artifacts: runs, table, status line and figure from fixture run files."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
import pytest

from unlearnbench.artifacts import artifact_names
from unlearnbench.artifacts.removal_curves import VALIDATION_ACCURACY, MnistCurves, RemovalCurves
from unlearnbench.artifacts.summaries import (
    CellTable,
    cell_record,
    configured_methods,
    experiments_for,
    sorted_by,
    status_line,
)
from unlearnbench.captions import FINITE_DIFFERENCE_CAVEAT
from unlearnbench.storage import write_json


class ToyCurves(RemovalCurves):
    """An artifact declared in a dozen lines: its kind, keys, metrics, one derived key and its status."""

    kind = "toy-removal"
    keys = ("experiment", "stand_in", "label", "method", "removals")
    metrics = ("accuracy", "seconds", "never_measured")
    column = "label"
    skipped_methods = ("retrain",)

    def derived(self, run: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        return {"label": run["model"].upper()}

    def describe(self, name: str, settings: Mapping[str, Any], config: Mapping[str, Any]) -> str:
        return f"{name} ({settings['model']})"


TOY = ToyCurves(name="toy-fig", title="Toy figure")


def toy_run(seed: int, method: str, accuracies: list[float]) -> dict[str, Any]:
    return {
        "experiment": "toy",
        "model": "mlp",
        "stand_in": True,
        "method": method,
        "seed": seed,
        "checkpoints": [
            {"removals": 2 * i, "accuracy": a, "seconds": None if i == 0 else 0.5 * seed}
            for i, a in enumerate(accuracies)
        ],
    }


def test_a_declared_artifact_aggregates_run_files_into_mean_std_and_n(tmp_path):
    files = []
    for seed, method, accuracies in (
        (0, "lcodec", [1.0, 0.8]),
        (1, "lcodec", [0.9, 0.6]),
        (0, "retrain", [1.0, 1.0]),  # another artifact's: left out
    ):
        files.append(tmp_path / f"{method}{seed}.json")
        write_json(files[-1], toy_run(seed, method, accuracies))
    table = TOY.aggregate(files, {"seeds": [0, 1]})
    assert list(table.columns) == [
        "column", "row", "experiment", "stand_in", "label", "method", "removals",
        "accuracy_mean", "accuracy_std", "seconds_mean", "seconds_std", "n_seeds",
    ]  # fmt: skip
    assert table["row"].tolist() == ["lcodec @ 0", "lcodec @ 2"] and set(table["column"]) == {"MLP"}
    assert table["accuracy_mean"].tolist() == pytest.approx([0.95, 0.7])
    assert table["accuracy_std"].tolist() == pytest.approx([math.sqrt(0.005), math.sqrt(0.02)])
    assert math.isnan(table["seconds_mean"].iloc[0]) and table["seconds_mean"].iloc[1] == pytest.approx(0.25)
    assert table["n_seeds"].tolist() == [2, 2] and table["stand_in"].all()


def test_an_artifact_with_nothing_to_aggregate_says_which(tmp_path):
    path = tmp_path / "retrain0.json"
    write_json(path, toy_run(0, "retrain", [1.0]))
    with pytest.raises(ValueError, match="toy-fig: no checkpoint"):
        TOY.aggregate([path], {"seeds": [0]})


def test_runs_read_the_blocks_naming_the_artifact_with_their_own_seeds():
    config = {
        "seeds": [0, 1, 2],
        "experiments": {
            "a": {"kind": "toy-removal", "artifact": "toy-fig", "model": "mlp", "methods": ["lcodec", "retrain"]},
            "b": {"kind": "toy-removal", "artifact": ["other", "toy-fig"], "model": "cnn", "methods": ["lcodec"],
                  "seeds": [7]},
            "c": {"kind": "toy-removal", "artifact": "other", "model": "mlp", "methods": ["lcodec"]},
            "d": {"kind": "sequential-removal", "artifact": "toy-fig", "methods": ["lcodec"]},
        },
    }  # fmt: skip
    assert list(experiments_for(config, "toy-removal", "toy-fig")) == ["a", "b"]
    assert list(experiments_for(config, "toy-removal")) == ["a", "b", "c"]
    assert [(s.experiment, s.method, s.seed) for s in TOY.runs(config)] == [
        ("a", "lcodec", 0), ("a", "lcodec", 1), ("a", "lcodec", 2), ("b", "lcodec", 7),
    ]  # fmt: skip
    assert TOY.status(config) == "configured: a (mlp); b (cnn)"
    assert TOY.status({"seeds": [0], "experiments": {}}) == "not configured in this profile"


def test_the_status_line_names_the_finite_difference_hessian_where_a_block_uses_it():
    blocks = {"x": {"unlearning": {"hessian": "finite-difference"}, "methods": {"lcodec": None}}}
    line = status_line(blocks, lambda name, s: name)
    assert line.startswith("configured: x") and FINITE_DIFFERENCE_CAVEAT in line and "x/lcodec" in line


def test_configured_methods_keep_the_paper_order_and_name_an_unknown_one():
    methods_of = configured_methods(["foci", "lfoci"], "codec-speed")
    assert methods_of({"methods": ["lfoci", "foci"]}) == ["foci", "lfoci"]
    assert methods_of({}) == ["foci", "lfoci"]
    with pytest.raises(ValueError, match=r"unknown codec-speed methods \['cit'\]"):
        methods_of({"methods": ["cit"]})


def test_sorted_by_puts_known_values_in_their_order_and_unknown_ones_last():
    table = pd.DataFrame({"experiment": ["b", "a", "a", "b", "a"], "method": ["x", "new", "y", "y", "x"]})
    ordered = sorted_by(table, {"experiment": None, "method": ["y", "x"]})
    assert list(zip(ordered["experiment"], ordered["method"])) == [
        ("a", "y"),
        ("a", "x"),
        ("a", "new"),
        ("b", "y"),
        ("b", "x"),
    ]
    assert list(ordered.index) == [0, 1, 2, 3, 4]


def test_a_cell_table_aggregates_the_cells_of_its_runs_over_seeds(tmp_path):
    class Cells(CellTable):
        name, kind = "cells", "toy"
        keys, metrics = ("column", "row", "experiment", "method", "stand_in"), ("v",)

        def cells(self, run):
            for column, value in run["values"].items():
                yield cell_record(run, column, "r", {"seed": run["seed"], "v": value})

    files = []
    for seed, values in enumerate(({"a": 1.0, "b": 2.0}, {"a": 3.0})):
        files.append(tmp_path / f"seed{seed}.json")
        write_json(files[-1], {"experiment": "e", "method": "m", "seed": seed, "values": values})
    table = Cells().aggregate(files, {})
    assert list(table["column"]) == ["a", "b"] and list(table["v_mean"]) == [2.0, 2.0]
    assert list(table["n_seeds"]) == [2, 1] and not table["stand_in"].any()
    with pytest.raises(ValueError, match="cells: no toy cell to aggregate in 0 run file"):
        Cells().aggregate([], {})


def mnist_run(method: str, seed: int, wd: float, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"experiment": f"wd{wd:g}", "dataset": "digits", "stand_in": True, "weight_decay": wd,
            "method": method, "seed": seed, "checkpoints": rows}  # fmt: skip


def test_mnist_curves_count_no_reverted_removal_for_retraining_and_draw_from_the_csv(tmp_path):
    figure = MnistCurves(name="toy-mnist", title="Toy MNIST", panels=[VALIDATION_ACCURACY])
    runs = {
        "lcodec.json": mnist_run("lcodec", 0, 0.01, [{"removals": 0, "test_accuracy": 0.9, "reverted_so_far": 0},
                                                     {"removals": 5, "test_accuracy": 0.8, "reverted_so_far": 1}]),
        "retrain.json": mnist_run("retrain", 0, 0.01, [{"removals": 0, "test_accuracy": 0.9},
                                                       {"removals": 5, "test_accuracy": 0.85}]),
        "other.json": mnist_run("lcodec", 0, 0.1, [{"removals": 0, "test_accuracy": 0.7, "reverted_so_far": 0}]),
    }  # fmt: skip
    for name, payload in runs.items():
        write_json(tmp_path / name, payload)
    table = figure.aggregate([tmp_path / name for name in runs], {"seeds": [0]})
    assert [c for c in table.columns if c.endswith("_mean")] == ["test_accuracy_mean", "reverted_so_far_mean"]
    retrain = table[table["method"] == "retrain"]
    assert retrain["reverted_so_far_mean"].tolist() == [0, 0]
    assert table["test_accuracy_std"].isna().all()  # one seed: no spread, and none invented
    csv = tmp_path / "table.csv"
    table.to_csv(csv, index=False)
    outputs = [tmp_path / "toy.png", tmp_path / "toy.pdf"]
    figure.draw(pd.read_csv(csv), outputs, {"profile": "test"})
    assert all(p.stat().st_size > 0 for p in outputs)


def test_the_shared_modules_are_not_artifacts():
    names = artifact_names()
    assert not {"base", "summaries", "figures", "removal-curves"} & set(names)
    assert "lc-fig6-retrain" in names and "lc-sec7-4-reid-map" in names
