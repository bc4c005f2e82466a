"""reid-removal end to end on a tiny Market-1501 stand-in, and the two re-ID artifacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unlearnbench.artifacts.lc_fig8_fig12_reid_actmaps import ARTIFACT as FIG8
from unlearnbench.artifacts.lc_sec7_4_reid_map import ARTIFACT as SEC74
from unlearnbench.config import validate_config
from unlearnbench.experiments import get_kind
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.experiments.reid_removal import choose_identities
from unlearnbench.metrics.removal import metric_names


def _settings() -> dict:
    return {
        "kind": "reid-removal",
        "seeds": [0],
        "data": {
            "source": "standin",
            "dataset": "market1501",
            "standin": {"train_ids": 3, "test_ids": 2, "images_per_id": 3, "image_size": [32, 16]},
        },
        "model": {"arch": "resnet18"},
        "image_size": [32, 16],
        "training": {
            "epochs": 2,
            "batch_size": 8,
            "optimizer": {"name": "adam", "lr": 1e-3, "weight_decay": 5e-4},
        },
        "removal": {"identity": 1, "removals": 2, "checkpoint_every": 1, "retain_sample": 4},
        "epsilons": [10.0, 1000.0],
        # exact Hessian on a small retain sample: no gradient bank, so the checkpoint stays small
        "unlearning": {
            "hessian": "exact",
            "cg_max_iter": 3,
            "noise": "paper",
            "delta": 0.01,
            "perturbations": 8,
            "l2_lambda": 0.01,
        },
        "methods": {"lcodec": None},
    }


def test_choose_identities():
    pids = np.array([0, 0, 1, 1, 2, 2])
    removed, other = choose_identities(pids, None, seed=0)
    assert removed != other and {removed, other} <= {0, 1, 2}
    assert choose_identities(pids, None, seed=0) == (removed, other)
    assert choose_identities(pids, 2, seed=5)[0] == 2
    with pytest.raises(ValueError, match="not a training identity"):
        choose_identities(pids, 7, seed=0)


def test_pretrain_run_and_artifacts(tmp_path):
    settings = _settings()
    config = {"profile": "t8", "seeds": [0, 1], "experiments": {"reid": settings}}
    validate_config(config)
    kind = get_kind("reid-removal")
    ctx = RunContext("reid", settings, config, tmp_path / "results", tmp_path / "data", "cpu")
    kind.pretrain(ctx, ModelRef("original", 0), ctx.model_path(ModelRef("original", 0)))
    outputs = []
    for variant in ("lcodec_eps10", "lcodec_eps1000"):
        output = tmp_path / variant / "seed0.json"
        payload = kind.run(ctx, variant, 0, output)
        outputs.append(output)
        assert payload["stand_in"] and payload["removed_identity"] == 1 and payload["identity_images"] == 3
        assert [c["removals"] for c in payload["checkpoints"]] == [0, 1, 2]
        assert payload["n_unchanged_removals"] == len(payload["unchanged_removals"])
        first = payload["checkpoints"][0]
        assert 0 <= first["mAP"] <= 1 and 0 <= first["rank1"] <= 1 and first["forget_accuracy"] is None
        assert payload["checkpoints"][-1]["mean_noise_sigma"] > 0
        for row in payload["checkpoints"]:  # the standard set; no test people among the classes
            assert set(metric_names()) <= set(row) and row["test_accuracy"] is None
        last = payload["checkpoints"][-1]
        assert 0.0 <= last["mia_auc"] <= 1.0 and 0.0 <= last["mia_svc_efficacy"] <= 1.0
        assert 0.0 <= last["residual_accuracy"] <= 1.0 and last["residual_gradient_norm_data"] > 0
        with np.load(output.with_suffix(".actmaps.npz")) as archive:
            assert archive["before"].shape == archive["after"].shape == (2, 32, 16)
            assert archive["images"].shape == (2, 32, 16, 3)
    sigmas = [pd.read_json(o, typ="series")["checkpoints"][-1]["mean_noise_sigma"] for o in outputs]
    assert sigmas[0] == pytest.approx(100 * sigmas[1])  # sigma ~ 1 / epsilon
    assert len(SEC74.runs(config)) == 2 and len(FIG8.runs(config)) == 2
    table = SEC74.aggregate(outputs, config)
    assert {"column", "row", "mAP_mean", "rank1_mean", "identity_accuracy_mean", "stand_in"} <= set(
        table.columns
    )
    SEC74.draw(table, [tmp_path / "sec7-4.png"], config)
    maps = FIG8.aggregate(outputs, config)
    assert set(maps["person"]) == {"scrubbed", "not_scrubbed"} and len(maps) == 4
    FIG8.draw(maps, [tmp_path / "fig8.png"], config)
    assert (tmp_path / "fig8.png").stat().st_size > 0 and (tmp_path / "sec7-4.png").stat().st_size > 0
