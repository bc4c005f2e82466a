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
from unlearnbench.metrics.removal import metric_names
from unlearnbench.models import load_model
from unlearnbench.storage import read_json

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
        "residual_gradient_norm_data",
        "residual_gradient_norm_regularised",
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


def test_every_checkpoint_carries_the_standard_metric_set(setup):
    """The set of every removal kind, with the gaps to the reference retrained at each checkpoint."""
    run, retrain = _run(setup, "lcodec"), _run(setup, "retrain")
    for row in run["checkpoints"][1:]:
        assert set(metric_names(retrain=True)) <= set(row)
        assert 0.0 <= row["mia_svc_efficacy"] <= 1.0
        assert row["test_accuracy_gap_to_retrain"] == pytest.approx(
            row["test_accuracy"] - retrain["checkpoints"][run["checkpoints"].index(row)]["test_accuracy"],
            abs=1e-12,
        )
    assert set(metric_names()) <= set(run["checkpoints"][0])
    for row in retrain["checkpoints"]:
        assert set(metric_names()) <= set(row) and "distance_to_retrain" not in row


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


# ---------------------------------------------------------------------------- issue 10: noise n, empty selections


def _authors_sigma(n: int, epsilon: float = 0.1, delta: float = 0.01, lam: float = 0.01) -> float:
    """NoisyReturn of the authors' scrub_tools.py with m = 1, M = 0.25, L = 1."""
    import math

    gamma = 2 * 0.25 * 1.0**2 * 1**2 / (n**2 * lam**3)
    return gamma / epsilon * math.sqrt(2 * math.log(1.25 / delta))


def test_authors_code_noise_on_the_fig6_settings_uses_their_n_of_50000(setup):
    """Fig. 6: epsilon 0.1, delta 0.01, lambda 0.01; the authors' scripts pass n = 50000 however small the data."""
    fig6 = {"noise": "authors-code", "epsilon": 0.1, "delta": 0.01, "l2_lambda": 0.01, "M": 3.0, "L": 2.0}
    settings = {
        **SETTINGS,
        "removals": 4,
        "removal_batch": 2,  # the authors' noise has m = 1 whatever the batch
        "retrain_reference": False,
        "unlearning": {**SETTINGS["unlearning"], **fig6},
        "methods": {"newton-full": {"hessian": "dense"}},
    }
    run = _run(setup, "newton-full", settings, folder="fig6-authors-noise")
    sigmas = [c["noise_sigma"] for c in run["checkpoints"][1:]]
    assert run["n_train"] == 80 and len(sigmas) == 2
    assert sigmas == [pytest.approx(_authors_sigma(50000), rel=1e-12)] * 2
    assert _authors_sigma(50000) < _authors_sigma(80) / 1e5  # n from the run would be a different noise


def test_noise_n_overrides_the_n_of_either_variant(setup):
    for noise in ("paper", "authors-code"):
        unlearning = {**SETTINGS["unlearning"], "noise": noise, "epsilon": 0.1, "l2_lambda": 0.01, "noise_n": 1234}
        settings = {
            **SETTINGS,
            "removals": 2,
            "retrain_reference": False,
            "unlearning": unlearning,
            "methods": {"newton-full": {"hessian": "dense", "M": 0.25, "L": 1.0}},
        }
        run = _run(setup, "newton-full", settings, folder=f"noise-n-{noise}")
        assert run["checkpoints"][-1]["noise_sigma"] == pytest.approx(_authors_sigma(1234), rel=1e-12)


def test_removals_that_change_nothing_are_recorded(setup, monkeypatch):
    """allow-empty: an empty L-FOCI selection leaves the model as it is, and the run JSON lists it."""
    import unlearnbench.dependence as dependence
    from unlearnbench.dependence import FociResult

    monkeypatch.setattr(dependence, "lfoci", lambda *a, **k: FociResult([], []))
    base = {**SETTINGS, "removals": 3, "checkpoint_every": 3, "retrain_reference": False}
    empty = {**base, "methods": {"lcodec": {"empty_selection": "allow-empty"}}}
    run = _run(setup, "lcodec", empty, folder="allow-empty")
    assert run["n_unchanged_removals"] == 3
    assert [u["removals_so_far"] for u in run["unchanged_removals"]] == [0, 1, 2]
    assert all(len(u["indices"]) == 1 and "allow-empty" in u["reason"] for u in run["unchanged_removals"])
    assert run["checkpoints"][-1]["unchanged_so_far"] == 3
    assert run["checkpoints"][-1]["test_accuracy"] == run["checkpoints"][0]["test_accuracy"]
    kept = _run(setup, "lcodec", {**base, "methods": {"lcodec": None}}, folder="keep-best")  # the default
    assert kept["n_unchanged_removals"] == 0 and kept["unchanged_removals"] == []
    assert kept["checkpoints"][-1]["slices_selected"] == 1 and kept["checkpoints"][-1]["params_updated"] > 0


def test_both_residual_gradient_norms_are_reported_and_named(setup):
    """The Newton step targets mean loss + lambda/2 ||w||^2: its gradient norm is reported beside the data-only one."""
    from unlearnbench.metrics.gradients import dataset_gradient_norm
    from unlearnbench.models.classifiers import cross_entropy_loss

    _, _, ctx = setup
    run = _run(setup, "lcodec")
    first = run["checkpoints"][0]  # the original model on its whole training subset
    model, _ = load_model(ctx.model_path(ModelRef("original", 0)))
    data = kind.load_data(ctx)
    train = Subset(data.train, kind.training_indices(data.train.tensors[1], 8, 0).tolist())
    lam = SETTINGS["training"]["optimizer"]["weight_decay"]
    data_only = dataset_gradient_norm(model, cross_entropy_loss, train)
    regularised = dataset_gradient_norm(model, cross_entropy_loss, train, l2_lambda=lam)
    assert first["residual_gradient_norm_data"] == pytest.approx(data_only, rel=1e-6)
    assert first["residual_gradient_norm_regularised"] == pytest.approx(regularised, rel=1e-6)
    assert abs(regularised - data_only) > 1e-3 * data_only


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
    # D.4's claim reads the removed samples' loss before and after each removal
    losses = table[["sample_loss_before_mean", "sample_loss_after_mean"]].dropna()
    assert len(losses) > 0 and (losses > 0).all().all()
    outputs = [tmp_path / "kfac.png"]
    art.draw(table, outputs, config)
    assert outputs[0].stat().st_size > 0
    assert "STAND-IN" in art.status(config) and "newton-kfac" in art.status(config)
