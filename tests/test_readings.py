"""Readings tables (gs-readings, lc-readings): every reading beside the default, nothing dropped."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from unlearnbench.artifacts import get_artifact
from unlearnbench.artifacts.gs_table1 import table_experiments
from unlearnbench.experiments.base import ModelRef, RunContext, check_reading_block
from unlearnbench.experiments.generative_unlearning import pretrained
from unlearnbench.readings import load_readings
from unlearnbench.storage import write_json

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = {
    "kind": "generative-unlearning",
    "paper_column": "MNIST138",
    "dataset": "mnist-t10k",
    "classes": [1, 3, 8],
    "forget_class": 1,
    "vae": {"epochs": 1},
    "classifier": {"seed": 0},
    "evaluation": {"n_samples": 10},
    "methods": {"gradient-ascent": {}, "gradient-surgery": {}, "retrain": None},
}
FRATIO = {"before": 0.34, "gradient-ascent": 0.30, "gradient-surgery": 0.10, "retrain": 0.0}


def _config(tmp_path: Path, readings: dict | None = None) -> dict:
    schedule = copy.deepcopy(DEFAULT)
    schedule["reading"] = {"of": "gs-default", "choice": "schedule", "id": "one-epoch-minibatch"}
    schedule["methods"] = {
        "gradient-ascent": {"forget_batch_size": 64},
        "gradient-surgery": {"forget_batch_size": 64},
    }
    config = {
        "profile": "t",
        "seeds": [0, 1],
        "published": str(ROOT / "config/published.yaml"),
        "claims": str(ROOT / "config/claims.yaml"),
        "readings": str(ROOT / "config/readings.yaml"),
        "experiments": {"gs-default": DEFAULT, "gs-reading-one-epoch-minibatch": schedule},
    }
    if readings is not None:
        config["readings"] = str(tmp_path / "readings.yaml")
        (tmp_path / "readings.yaml").write_text(yaml.safe_dump(readings))
    return config


def _write_runs(tmp_path: Path, config: dict, shift: float) -> list[Path]:
    """Synthetic run JSONs; the reading block's surgery fratio is the default's minus ``shift``."""
    files = []
    for spec in get_artifact("gs-readings").runs(config):
        fr = FRATIO[spec.method] - (
            shift if spec.experiment != "gs-default" and spec.method == "gradient-surgery" else 0
        )
        metrics = {
            "fratio": fr + 0.001 * spec.seed,
            "IS": 2.0,
            "FID": 3.0,
            "time": 1.0,
            "FID_penultimate": 3.0,
            "FID_logits": 0.5,
            "FID_probabilities": 0.04,
        }
        payload = {
            "experiment": spec.experiment,
            "method": spec.method,
            "seed": spec.seed,
            "paper_column": "MNIST138",
            "dataset": "real MNIST",
            "forget_class": 1,
            "fid_features": "classifier",
            "stand_in": False,
            "metrics": metrics,
        }
        path = tmp_path / "runs" / spec.relative_path()
        write_json(path, payload)
        files.append(path)
    return files


def test_gs_readings_marks_the_default_and_drops_nothing(tmp_path):
    config = _config(tmp_path)
    table = get_artifact("gs-readings").aggregate(_write_runs(tmp_path, config, shift=0.05), config)
    readings = load_readings(ROOT / "config/readings.yaml")["gradient-surgery"]["choices"]
    assert len(table) == sum(len(c["readings"]) for c in readings)  # one row per (choice, reading)
    defaults = table[table["default"]]
    assert sorted(defaults["reading"]) == sorted(c["default"] for c in readings)
    row = table.set_index(["choice", "reading"])
    # the schedule reading's own surgery runs, BEFORE and RETRAIN from the default block
    minibatch = row.loc[("schedule", "one-epoch-minibatch")]
    assert minibatch["status"] == "run"
    assert minibatch["OURS fratio"] == pytest.approx(0.05 + 0.0005)
    assert minibatch["RETRAIN fratio"] == pytest.approx(0.0005)
    assert row.loc[("schedule", "one-step"), "OURS fratio"] == pytest.approx(0.10 + 0.0005)
    # the FID-space readings read the default runs' other spaces
    assert row.loc[("metric-space", "probabilities"), "OURS FID"] == pytest.approx(0.04)
    assert row.loc[("metric-space", "logits"), "OURS FID"] == pytest.approx(0.5)
    assert row.loc[("metric-space", "penultimate"), "OURS FID"] == pytest.approx(3.0)
    # a reading no block runs is a row that says so, not a missing row
    assert row.loc[("direction", "literal-descend"), "status"].startswith("not run: no experiment block")
    # verdicts: the published values and the claims on gs-table1, per reading
    assert (
        row.loc[("schedule", "one-step"), "within tolerance"]
        + row.loc[("schedule", "one-step"), "outside tolerance"]
        > 0
    )
    assert "gs-fratio-drop: holds" in row.loc[("schedule", "one-step"), "claims"]  # 1 - 0.1005/0.3405 > 0.6
    assert "gs-fratio-drop: holds" in minibatch["claims"]  # its own OURS against the default BEFORE
    assert "gs-time-share" in minibatch["claims"] and "not measured" not in minibatch["claims"]
    assert "(default)" in get_artifact("gs-readings").markdown(table)


def test_a_reading_still_to_add_is_shown_as_not_run(tmp_path):
    readings = {
        "gradient-surgery": {
            "choices": [
                {
                    "id": "schedule",
                    "default": "one-step",
                    "readings": {
                        "one-step": {"value": None},
                        "one-epoch-minibatch": {"value": 64, "status": "to-add"},
                    },
                }
            ]
        }
    }
    config = _config(tmp_path, readings)
    table = get_artifact("gs-readings").aggregate(_write_runs(tmp_path, config, shift=0.0), config)
    status = dict(zip(table["reading"], table["status"]))
    assert status["one-step"] == "run"
    assert "to-add" in status["one-epoch-minibatch"]


def test_reading_blocks_stay_out_of_table1_and_reuse_the_default_models(tmp_path):
    config = _config(tmp_path)
    assert list(table_experiments(config)) == ["gs-default"]
    reading = config["experiments"]["gs-reading-one-epoch-minibatch"]
    assert {r.experiment for r in pretrained(reading, "gradient-surgery", 0)} == {"gs-default"}
    ctx = RunContext("gs-reading-one-epoch-minibatch", reading, config, tmp_path, tmp_path, "cpu")
    assert ctx.model_path(ModelRef("original", 0)) == tmp_path / "models" / "gs-default" / "original-seed0.pt"


def test_a_reading_block_that_changes_pretraining_is_an_error_naming_the_key(tmp_path):
    config = _config(tmp_path)
    bad = copy.deepcopy(config["experiments"]["gs-reading-one-epoch-minibatch"])
    bad["vae"] = {"epochs": 2}
    with pytest.raises(ValueError, match=r"gs-bad .* changes vae"):
        check_reading_block("gs-bad", bad, config["experiments"])
    bad["reading"]["of"] = "nowhere"
    with pytest.raises(ValueError, match="nowhere"):
        check_reading_block("gs-bad", bad, config["experiments"])


def test_readings_file_defaults_are_among_the_readings():
    data = load_readings(ROOT / "config/readings.yaml")
    assert {"gradient-surgery", "l-codec"} <= set(data)
    # every key the readings need exists now: nothing is still marked to-add
    assert all(
        r.get("status") != "to-add"
        for p in data.values()
        for c in p["choices"]
        for r in c["readings"].values()
    )


def test_lc_readings_shows_curve_end_points_per_reading(tmp_path):
    base = {
        "kind": "sequential-removal",
        "artifact": ["lc-fig6-retrain"],
        "dataset": "mnist-t10k",
        "model": {"name": "mlp"},
        "training": {"epochs": 2},
        "removals": 20,
        "unlearning": {"hessian": "exact", "noise": "paper"},
        "methods": {"lcodec": None, "retrain": None},
        "seeds": [0, 1],
    }
    fd = {
        **copy.deepcopy(base),
        "artifact": "lc-readings",
        "methods": {"lcodec": None},
        "unlearning": {"hessian": "finite-difference", "noise": "paper"},
        "reading": {"of": "lc-default", "choice": "hessian", "id": "finite-difference"},
    }
    config = {
        "profile": "t",
        "seeds": [0],
        "published": str(ROOT / "config/published.yaml"),
        "claims": str(ROOT / "config/claims.yaml"),
        "readings": str(ROOT / "config/readings.yaml"),
        "experiments": {"lc-default": base, "lc-default-reading-finite-difference": fd},
    }
    artifact = get_artifact("lc-readings")
    files = []
    for spec in artifact.runs(config):
        accuracy = 0.9 if spec.experiment == "lc-default" else 0.5
        checkpoints = [
            {"removals": r, "test_accuracy": accuracy - 0.001 * r, "noise_sigma": 0.01} for r in (0, 10, 20)
        ]
        payload = {
            "experiment": spec.experiment,
            "method": spec.method,
            "seed": spec.seed,
            "dataset": "real MNIST",
            "stand_in": False,
            "weight_decay": 0.01,
            "checkpoints": checkpoints,
        }
        path = tmp_path / "runs" / spec.relative_path()
        write_json(path, payload)
        files.append(path)
    assert len(files) == 2 * 2 + 2  # the default's lcodec and retrain, the reading's lcodec, two seeds each
    table = artifact.aggregate(files, config).set_index(["choice", "reading"])
    assert table.loc[("hessian", "exact"), "lcodec test_accuracy"] == pytest.approx(0.88)
    assert table.loc[("hessian", "finite-difference"), "lcodec test_accuracy"] == pytest.approx(0.48)
    # retrain is not changed by the Hessian: the reading's row shows the default's
    assert table.loc[("hessian", "finite-difference"), "retrain test_accuracy"] == pytest.approx(0.88)
    assert bool(table.loc[("hessian", "exact"), "default"])
    assert table.loc[("noise", "authors-code"), "status"].startswith("not run")
    assert "lc-fig6-supported-share" in table.loc[("hessian", "exact"), "claims"]


def test_a_reading_whose_runs_are_missing_is_not_filled_from_the_default(tmp_path):
    config = _config(tmp_path)
    files = [f for f in _write_runs(tmp_path, config, shift=0.05) if "gs-reading-" not in str(f)]
    table = get_artifact("gs-readings").aggregate(files, config).set_index(["choice", "reading"])
    assert table.loc[("schedule", "one-epoch-minibatch"), "status"].startswith("not run: no run files")
    assert table.loc[("schedule", "one-step"), "status"] == "run"


def test_suite_files_are_found_from_another_working_directory(tmp_path, monkeypatch):
    """snakemake -d elsewhere: the relative config/readings.yaml still resolves to this checkout's."""
    monkeypatch.chdir(tmp_path)
    assert "gradient-surgery" in load_readings("config/readings.yaml")
