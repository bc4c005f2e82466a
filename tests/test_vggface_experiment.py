"""Experiment kind face-scrubbing end to end on a tiny faces stand-in, and the Fig. 7 artifact."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from unlearnbench.artifacts import get_artifact
from unlearnbench.config import validate_config
from unlearnbench.data import prepare_dataset
from unlearnbench.data.download import md5sum
from unlearnbench.experiments import face_scrubbing
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.metrics.removal import metric_names
from unlearnbench.models import load_model
from unlearnbench.models.vggface import VGGFace, VGGFaceWeightsError
from unlearnbench.storage import read_json

BLOCK = {
    "kind": "face-scrubbing",
    "artifact": "lc-fig7-vggface",
    "dataset": "faces-standin",
    "model": {"name": "vggface", "kwargs": {"width": 2, "fc_width": 8, "dropout": 0.0}},
    "weights": None,
    "training": {
        "epochs": 2,
        "batch_size": 8,
        "optimizer": {"name": "adam", "lr": 1.0e-3, "weight_decay": 0.01},
    },
    "forget_identity": "standin_person_001",
    "removals": None,
    "checkpoint_every": 2,
    "unlearning": {"selection": "cheap", "hessian": "finite-difference", "epsilon": 1.0, "perturbations": 10},
    "methods": {"lcodec": None},
    "seeds": [0],
}
ORIGINAL = ModelRef("original", 0)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    datasets = {"faces-standin": {"n_identities": 3, "images_per_identity": 6, "image_size": [32, 32]}}
    prepare_dataset("faces-standin", datasets, tmp_path / "data")
    config = {
        "profile": "t",
        "seeds": [0],
        "datasets": datasets,
        "experiments": {"faces": copy.deepcopy(BLOCK)},
    }
    ctx = RunContext(
        "faces", config["experiments"]["faces"], config, tmp_path / "results", tmp_path / "data", "cpu"
    )
    return ctx, config


def test_scrubbing_run_reports_identity_and_residual_accuracies(workspace, tmp_path):
    ctx, config = workspace
    face_scrubbing.pretrain(ctx, ORIGINAL, ctx.model_path(ORIGINAL))
    model, meta = load_model(ctx.model_path(ORIGINAL))
    assert isinstance(model, VGGFace) and model.fc8.out_features == 3 and meta["weights"] is None
    assert "gradient_bank" in meta  # the finite-difference Hessian needs it
    out = ctx.results_dir / "runs/faces/lcodec/seed0.json"
    face_scrubbing.run(ctx, "lcodec", 0, out)
    payload = read_json(out)
    assert payload["identity"] == "standin_person_001" and payload["stand_in"]
    # 6 images per identity, one held out: every one of the 5 training images is removed.
    assert payload["identity_train_images"] == 5
    assert [row["removals"] for row in payload["checkpoints"]] == [0, 2, 4, 5]
    assert payload["n_unchanged_removals"] == len(payload["unchanged_removals"])
    last = payload["checkpoints"][-1]
    for key in (
        "forget_accuracy",
        "identity_accuracy",
        "identity_test_accuracy",
        "residual_accuracy",
        "test_accuracy",
    ):
        assert 0.0 <= last[key] <= 1.0
    assert last["slices_selected"] == 1.0  # the cheap selection: one slice
    for row in payload["checkpoints"]:  # the standard set of every removal kind, beside the identity's
        assert set(metric_names()) | {"identity_accuracy", "identity_test_accuracy"} <= set(row)
    assert 0.0 <= last["mia_auc"] <= 1.0 and 0.0 <= last["mia_svc_efficacy"] <= 1.0
    assert last["residual_gradient_norm_regularised"] > 0
    artifact = get_artifact("lc-fig7-vggface")
    assert [s.relative_path() for s in artifact.runs(config)] == ["runs/faces/lcodec/seed0.json"]
    table = artifact.aggregate([out], config)
    assert list(table["removals"]) == [0, 2, 4, 5] and table["stand_in"].all()
    artifact.draw(table, [tmp_path / "fig7.png"], config)
    assert (tmp_path / "fig7.png").stat().st_size > 0
    assert "random init" in artifact.status(config) and "STAND-IN" in artifact.status(config)
    # noise: authors-code takes the n of the authors' VGGFace script (982803), not the 18 images here
    ctx.settings["unlearning"] = {**BLOCK["unlearning"], "noise": "authors-code"}
    authors = face_scrubbing.run(ctx, "lcodec", 0, ctx.results_dir / "authors.json")
    gamma = 2 * 0.25 * 1.0 * 1 / (982803**2 * 0.01**3)
    sigma = gamma / 1.0 * math.sqrt(2 * math.log(1.25 / 0.01))
    assert authors["checkpoints"][-1]["noise_sigma"] == pytest.approx(sigma, rel=1e-12)


def test_weights_are_loaded_and_recorded(workspace, tmp_path):
    ctx, _ = workspace
    source = VGGFace(n_classes=3, width=2, fc_width=8, image_size=32)
    torch.save(source.state_dict(), tmp_path / "vgg_face_dag.pth")
    ctx.settings["weights"] = {
        "path": str(tmp_path / "vgg_face_dag.pth"),
        "md5": md5sum(tmp_path / "vgg_face_dag.pth"),
    }
    ctx.settings["training"]["epochs"] = 1
    ctx.settings["unlearning"]["hessian"] = "exact"  # no bank needed
    face_scrubbing.pretrain(ctx, ORIGINAL, ctx.model_path(ORIGINAL))
    _, meta = load_model(ctx.model_path(ORIGINAL))
    assert meta["weights"]["md5"] == md5sum(tmp_path / "vgg_face_dag.pth") and "gradient_bank" not in meta
    ctx.settings["weights"] = {"path": str(tmp_path / "absent.pth")}
    with pytest.raises(VGGFaceWeightsError, match="absent.pth"):
        face_scrubbing.pretrain(ctx, ORIGINAL, ctx.model_path(ORIGINAL))


def test_mismatches_are_named(workspace):
    ctx, _ = workspace
    data = face_scrubbing.load_data(ctx)
    with pytest.raises(ValueError, match="forget_identity"):
        face_scrubbing.identity_code(data, "nobody")
    assert face_scrubbing.identity_code(data, 2) == 2
    ctx.settings["model"]["kwargs"]["n_classes"] = 2622
    with pytest.raises(ValueError, match="identity_order"):
        face_scrubbing.model_kwargs(ctx.settings, data)
    with pytest.raises(ValueError, match="retraining"):
        face_scrubbing.run(ctx, "retrain", 0, ctx.results_dir / "x.json")


def test_schema_accepts_the_block():
    validate_config({"profile": "t", "seeds": [0], "experiments": {"faces": copy.deepcopy(BLOCK)}})
