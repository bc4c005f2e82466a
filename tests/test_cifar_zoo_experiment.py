"""Experiment kind cifar-zoo end to end on a tiny CIFAR-10 stand-in, and the two artifacts drawn from it."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from unlearnbench.artifacts import get_artifact
from unlearnbench.config import ConfigError, validate_config
from unlearnbench.data import prepare_dataset
from unlearnbench.experiments import cifar_zoo, get_kind
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.metrics.removal import metric_names
from unlearnbench.storage import read_json

BLOCK = {
    "kind": "cifar-zoo",
    "artifact": ["lc-fig5-cifar-zoo", "lc-fig11-cifar-retrain"],
    "dataset": "cifar10-standin",
    "model": {"name": "mlp", "kwargs": {"hidden": [8]}},
    "training": {
        "epochs": 2,
        "batch_size": 16,
        "optimizer": {"name": "sgd", "lr": 0.1, "weight_decay": 0.01},
    },
    "removals": 6,
    "checkpoints": [2, 5],
    "final_batch": "skip",
    "unlearning": {"hessian": "finite-difference", "noise": "paper", "epsilon": 1.0, "perturbations": 12},
    "methods": {"lcodec": None, "retrain": None},
    "seeds": [0],
}


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    datasets = {"cifar10-standin": {"train_per_class": 7, "test_per_class": 3}}
    prepare_dataset("cifar10-standin", datasets, tmp_path / "data")
    config = {
        "profile": "t",
        "seeds": [0, 1],
        "datasets": datasets,
        "experiments": {"zoo-mlp": copy.deepcopy(BLOCK)},
    }
    ctx = RunContext(
        "zoo-mlp", config["experiments"]["zoo-mlp"], config, tmp_path / "results", tmp_path / "data", "cpu"
    )
    return ctx, config


def run_all(ctx, config):
    kind = get_kind("cifar-zoo")
    kind.pretrain(ctx, ModelRef("original", 0), ctx.model_path(ModelRef("original", 0)))
    files = {}
    for method in ("lcodec", "retrain"):
        files[method] = ctx.results_dir / f"runs/zoo-mlp/{method}/seed0.json"
        kind.run(ctx, method, 0, files[method])
    return files


def test_runs_record_the_protocol_and_the_final_batch_of_one(workspace):
    ctx, config = workspace
    files = run_all(ctx, config)
    lcodec, retrain = read_json(files["lcodec"]), read_json(files["retrain"])
    assert lcodec["kind"] == "cifar-zoo" and lcodec["stand_in"] and lcodec["model_label"] == "MLP (2 layers)"
    assert [row["removals"] for row in lcodec["checkpoints"]] == [0, 2, 5, 6]
    # 70 training images, batch 16: 70 - 5 = 65 = 4 * 16 + 1, a final batch of ONE sample.
    assert [row["final_batch_size"] for row in lcodec["checkpoints"]] == [6, 4, 1, 16]
    after = lcodec["checkpoints"][-1]
    assert 0.0 <= after["residual_accuracy"] <= 1.0 and after["slices_selected"] is not None
    assert after["sample_gradient_norm_after"] > 0
    # final_batch: skip leaves that retrain out, and says so; no metric is invented for it.
    skipped = retrain["checkpoints"][2]
    assert skipped["removals"] == 5 and "final training batch of size 1" in skipped["skipped"]
    assert "test_accuracy" not in skipped
    for row in lcodec["checkpoints"] + [r for r in retrain["checkpoints"] if "skipped" not in r]:
        assert set(metric_names()) <= set(row)  # the standard set of every removal kind
    assert 0.0 <= after["mia_svc_efficacy"] <= 1.0 and after["residual_gradient_norm_data"] > 0
    assert retrain["checkpoints"][3]["retrain_seconds"] > 0
    assert lcodec["provenance"]["seed"] == 0


def test_artifacts_aggregate_and_draw(workspace, tmp_path):
    ctx, config = workspace
    files = run_all(ctx, config)
    fig5, fig11 = get_artifact("lc-fig5-cifar-zoo"), get_artifact("lc-fig11-cifar-retrain")
    assert {s.method for s in fig5.runs(config)} == {"lcodec"}  # retraining is Fig. 11's
    assert {s.method for s in fig11.runs(config)} == {"lcodec", "retrain"}
    assert all(s.seed == 0 for s in fig11.runs(config))  # the experiment's own seeds win
    table5 = fig5.aggregate([files["lcodec"]], config)
    assert set(table5["method"]) == {"lcodec"} and table5["stand_in"].all()
    assert {"column", "row", "residual_accuracy_mean", "residual_accuracy_std"} <= set(table5.columns)
    table11 = fig11.aggregate(list(files.values()), config)
    ones = table11[table11["final_batch_of_one"]]
    assert set(ones["removals"]) == {5}
    assert (
        int(
            table11.loc[(table11["method"] == "retrain") & (table11["removals"] == 5), "skipped_seeds"].iloc[
                0
            ]
        )
        == 1
    )
    for artifact, table in ((fig5, table5), (fig11, table11)):
        csv = tmp_path / f"{artifact.name}.csv"
        table.to_csv(csv, index=False)
        outputs = [tmp_path / f"{artifact.name}.png", tmp_path / f"{artifact.name}.pdf"]
        artifact.draw(pd.read_csv(csv), outputs, config)  # the figure is drawn from the CSV alone
        assert all(p.stat().st_size > 0 for p in outputs)
        assert "|" in artifact.markdown(table)
        assert "STAND-IN" in artifact.status(config)


def test_schedule_and_final_batch_helpers():
    assert cifar_zoo.final_batch_size(65, 16) == 1 and cifar_zoo.final_batch_size(64, 16) == 16
    assert cifar_zoo.schedule({"checkpoints": [3, 1]}, 5) == [0, 1, 3, 5]
    assert cifar_zoo.schedule({"checkpoint_every": 2}, 5) == [0, 2, 4, 5]
    with pytest.raises(ValueError, match="checkpoints"):
        cifar_zoo.schedule({"checkpoints": [9]}, 5)


def test_bad_settings_are_refused(workspace):
    ctx, config = workspace
    ctx.settings["model"] = {"name": "allcnn"}
    with pytest.raises(ValueError, match="not in the CIFAR-10 zoo"):
        cifar_zoo.pretrain(ctx, ModelRef("original", 0), ctx.model_path(ModelRef("original", 0)))
    with pytest.raises(ValueError, match="no model role"):
        cifar_zoo.pretrain(ctx, ModelRef("retrained", 0), ctx.model_path(ModelRef("original", 0)))


def test_schema_accepts_the_block_and_names_a_typo():
    config = {"profile": "t", "seeds": [0], "experiments": {"zoo": copy.deepcopy(BLOCK)}}
    validate_config(config)
    config["experiments"]["zoo"]["final_batchs"] = "keep"
    with pytest.raises(ConfigError, match="final_batchs"):
        validate_config(config)
    config["experiments"]["zoo"].pop("final_batchs")
    config["experiments"]["zoo"]["final_batch"] = "drop"
    with pytest.raises(ConfigError, match="final_batch"):
        validate_config(config)
