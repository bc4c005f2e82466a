"""The sequential-removal experiment kind and the three L-CODEC artifacts, on a tiny digits setup."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.utils.data import Subset

import unlearnbench.unlearning.lcodec  # noqa: F401  (registers the methods)
import unlearnbench.unlearning.newton_full  # noqa: F401
import unlearnbench.unlearning.reference  # noqa: F401  (retrain)
from unlearnbench.artifacts import lc_fig5_mnist_logreg, lc_fig6_retrain, lc_fig10_weight_decay
from unlearnbench.data import prepare_dataset
from unlearnbench.experiments import sequential_removal as kind
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.io import read_json
from unlearnbench.models import load_model

SETTINGS = {
    "kind": "sequential-removal",
    "artifact": ["lc-fig5-mnist-logreg", "lc-fig6-retrain"],
    "dataset": "digits",
    "train_per_class": 8,
    "model": {"name": "logistic"},
    "training": {
        "epochs": 4,
        "batch_size": 32,
        "optimizer": {"name": "sgd", "lr": 0.5, "weight_decay": 0.05},
    },
    "removals": 4,
    "checkpoint_every": 2,
    "retrain_reference": True,
    "unlearning": {"noise": "paper", "epsilon": 1.0, "perturbations": 40},
    "methods": {"lcodec": None, "newton-full": {"hessian": "dense"}, "retrain": None},
    "evaluation": {"mia_heldout": 50},
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("seq")
    prepare_dataset("digits", None, root / "data")
    config = {"profile": "test", "seeds": [0], "experiments": {"tiny": SETTINGS}}
    ctx = RunContext("tiny", SETTINGS, config, root / "results", root / "data", "cpu")
    kind.pretrain(ctx, ModelRef("original", 0), ctx.model_path(ModelRef("original", 0)))
    return root, config, ctx


def _run(setup, method, settings=None, folder="tiny"):
    root, config, ctx = setup
    if settings is not None:
        ctx = copy.copy(ctx)
        ctx.settings = settings
    path = root / "results" / f"runs/{folder}/{method}/seed0.json"
    kind.run(ctx, method, 0, path)
    return read_json(path)


def test_pretrained_checkpoint_holds_the_bank_and_retraining_reproduces_it(setup):
    root, config, ctx = setup
    model, meta = load_model(ctx.model_path(ModelRef("original", 0)))
    assert meta["n_train"] == 80 and meta["train_seconds"] > 0 and meta["stand_in"]
    assert [r["epoch"] for r in meta["gradient_bank"]["epochs"]] == [2, 3]
    data = kind.load_data(ctx)
    indices = kind.training_indices(data.train.tensors[1], 8, 0)
    again, _, _ = kind.train_model(ctx, data, Subset(data.train, indices.tolist()), 0)
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)  # same recipe and seed: the retrain baseline starts from the same place


def test_sequential_run_records_every_checkpoint(setup):
    run = _run(setup, "lcodec")
    assert [c["removals"] for c in run["checkpoints"]] == [0, 2, 4]
    assert run["stand_in"] and run["reverted"] == [] and run["n_train"] == 80
    last = run["checkpoints"][-1]
    for key in (
        "residual_accuracy",
        "forget_accuracy",
        "test_accuracy",
        "residual_gradient_norm",
        "mia_auc",
        "distance_to_retrain",
        "output_kl_to_retrain",
        "seconds_per_removal",
        "sample_gradient_norm_before",
        "sample_gradient_norm_after",
        "noise_sigma",
    ):
        assert last[key] is not None and last[key] >= 0, key
    assert 0 <= last["mia_auc"] <= 1
    assert run["provenance"]["seed"] == 0


def test_retrain_run_starts_from_the_original(setup):
    lcodec = _run(setup, "lcodec")
    retrain = _run(setup, "retrain")
    assert [c["removals"] for c in retrain["checkpoints"]] == [0, 2, 4]
    assert retrain["checkpoints"][0]["test_accuracy"] == lcodec["checkpoints"][0]["test_accuracy"]
    assert retrain["checkpoints"][1]["retrain_seconds"] > 0


def test_revert_filter_is_opt_in_and_logs_every_revert(setup):
    settings = {**SETTINGS, "revert_drop": -1.0, "retrain_reference": False, "methods": {"newton-full": None}}
    run = _run(
        setup, "newton-full", settings, folder="reverting"
    )  # a drop "greater than -1" always: every removal is undone
    assert len(run["reverted"]) == 80  # every training sample was tried, each logged
    assert all(len(r["indices"]) == 1 and "accuracy_after" in r for r in run["reverted"])
    assert [c["removals"] for c in run["checkpoints"]] == [0]


def test_artifacts_aggregate_and_draw(setup, tmp_path):
    root, config, _ = setup
    for method in ("lcodec", "newton-full", "retrain"):
        if not (root / "results" / f"runs/tiny/{method}/seed0.json").exists():
            _run(setup, method)
    for module in (lc_fig5_mnist_logreg, lc_fig6_retrain):
        art = module.ARTIFACT
        specs = art.runs(config)
        assert {s.method for s in specs} == {"lcodec", "newton-full", "retrain"}
        table = art.aggregate([root / "results" / s.relative_path() for s in specs], config)
        assert set(table["removals"]) == {0, 2, 4} and (table["n_seeds"] == 1).all()
        assert "residual_accuracy_mean" in table and "test_accuracy_std" in table
        outputs = [tmp_path / f"{art.name}.png", tmp_path / f"{art.name}.pdf"]
        art.draw(table, outputs, config)
        assert all(p.stat().st_size > 0 for p in outputs)
        assert "STAND-IN" in art.status(config)
    assert lc_fig10_weight_decay.ARTIFACT.runs(config) == []
    assert lc_fig10_weight_decay.ARTIFACT.status(config) == "not configured in this profile"


def test_kfac_artifact_of_appendix_d4(setup, tmp_path):
    """lc-d4-kfac: K-FAC and L-FOCI removals from the same model, drawn side by side."""
    import unlearnbench.unlearning.newton_kfac  # noqa: F401  (registers newton-kfac)
    from unlearnbench.artifacts import lc_d4_kfac

    root, _, _ = setup
    settings = {
        **SETTINGS,
        "artifact": "lc-d4-kfac",
        "retrain_reference": False,
        "unlearning": {**SETTINGS["unlearning"], "hessian": "dense"},
        "methods": {"lcodec": None, "newton-kfac": None},
    }
    config = {"profile": "test", "seeds": [0], "experiments": {"tiny-kfac": settings}}
    art = lc_d4_kfac.ARTIFACT
    specs = art.runs(config)
    assert {(s.experiment, s.method) for s in specs} == {
        ("tiny-kfac", "lcodec"),
        ("tiny-kfac", "newton-kfac"),
    }
    runs = [_run(setup, s.method, settings, folder="tiny-kfac") for s in specs]
    assert all(len(r["checkpoints"]) == 3 for r in runs)
    table = art.aggregate([root / "results" / s.relative_path() for s in specs], config)
    assert set(table["method"]) == {"lcodec", "newton-kfac"} and "forget_accuracy_mean" in table
    outputs = [tmp_path / "kfac.png"]
    art.draw(table, outputs, config)
    assert outputs[0].stat().st_size > 0
    assert "STAND-IN" in art.status(config) and "newton-kfac" in art.status(config)
