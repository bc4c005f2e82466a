"""The real-data CPU profile (config/real.yaml): validates, dry-runs, runs every reading, fails clearly without data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fixtures.workflow import run_snakemake

from unlearnbench.config import validate_config
from unlearnbench.data import prepare_dataset
from unlearnbench.experiments import get_kind
from unlearnbench.experiments.base import READING_KEYS
from unlearnbench.readings import load_readings


@pytest.fixture()
def real(repo_root):
    return yaml.safe_load((repo_root / "config" / "real.yaml").read_text())


def test_real_profile_validates_and_every_reading_block_varies_only_unlearning_or_evaluation(real):
    validate_config(real)
    experiments = real["experiments"]
    for name, block in experiments.items():
        if block.get("reading"):
            base = experiments[block["reading"]["of"]]
            changed = {k for k in set(block) | set(base) if block.get(k) != base.get(k)}
            assert changed <= READING_KEYS, (name, changed)


def test_real_profile_runs_every_reading_that_needs_runs(real, repo_root):
    """Each alternative reading has its block (or reads the default runs): nothing dropped."""
    readings = load_readings(repo_root / "config" / "readings.yaml")
    tags = {
        (b["reading"]["choice"], b["reading"]["id"]) for b in real["experiments"].values() if b.get("reading")
    }
    for paper in readings.values():
        for choice in paper["choices"]:
            for rid in choice["readings"]:
                if rid != choice["default"] and not choice.get("reuses_default_runs"):
                    assert (choice["id"], rid) in tags, (choice["id"], rid)


def test_bullseye_and_codec_speed_need_no_dataset_folder(real):
    """Without ../shared/data the MNIST jobs stop, while these still run (snakemake --keep-going)."""
    for block in real["experiments"].values():
        if block["kind"] in ("bullseye", "codec-speed"):
            assert get_kind(block["kind"]).datasets(block) == []


def test_missing_shared_data_stops_mnist_with_a_message_naming_the_folder(real, tmp_path):
    datasets = real["datasets"]
    moved = {
        k: (str(tmp_path / "nowhere" / Path(v).relative_to("..")) if k.endswith(("images", "labels")) else v)
        for k, v in datasets["mnist-t10k"].items()
    }
    with pytest.raises(FileNotFoundError, match=r"folder .*nowhere/shared/data/mnist-t10k .*does not exist"):
        prepare_dataset("mnist-t10k", {"mnist-t10k": moved}, tmp_path / "data")


def test_real_profile_dry_runs_with_the_readings_artifacts(real, repo_root, tmp_path):
    real["published"] = str(repo_root / "config" / "published.yaml")
    configfile = tmp_path / "real.yaml"
    configfile.write_text(yaml.safe_dump(real))
    result = run_snakemake(tmp_path, "--cores", "2", "-n", "--configfile", str(configfile), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    for target in (
        "tables/gs-readings.csv",
        "tables/lc-readings.csv",
        "tables/gs-table1.csv",
        "tables/lc-table1-bullseye.csv",
        "tables/lc-fig3-codec-speed.csv",
        "runs/gs-real-reading-full-retain/gradient-surgery/seed2.json",
        "runs/lc-real-retrain-reading-authors-code/lcodec/seed0.json",
    ):
        assert target in out, target
    # reading blocks reuse their default block's models: no pretraining of their own
    assert "models/gs-real-reading-" not in out and "models/lc-real-retrain-reading-" not in out


def test_without_shared_data_the_bullseye_still_runs_and_the_log_names_the_folder(real, repo_root, tmp_path):
    """The real profile's shape, tiny: an MNIST block on a missing ../shared/data and a bullseye block."""
    bullseye = dict(
        real["experiments"]["lc-real-bullseye"],
        methods=["lcodec-cit"],
        n_samples=40,
        n_trials=2,
        inputs=["raw"],
        max_conditioning=1,
    )
    retrain = dict(real["experiments"]["lc-real-retrain"], removals=1, checkpoint_every=1, seeds=[0])
    config = dict(
        real,
        seeds=[0],
        published=str(repo_root / "config" / "published.yaml"),
        experiments={"lc-real-bullseye": bullseye, "lc-real-retrain": retrain},
    )
    configfile = tmp_path / "real.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = run_snakemake(
        tmp_path / "work",
        "--cores",
        "2",
        "--workflow-profile",
        str(repo_root / "workflow" / "profiles" / "default"),
        "--configfile",
        str(configfile),
        timeout=600,
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0  # the MNIST part fails ...
    assert "shared/data/mnist-t10k" in out and "does not exist" in out
    # ... while the bullseye part runs to its table
    assert (
        tmp_path / "work" / "results" / "real" / "runs" / "lc-real-bullseye" / "lcodec-cit" / "seed0.json"
    ).exists()
    assert (tmp_path / "work" / "results" / "real" / "tables" / "lc-table1-bullseye.csv").exists()


def test_a_reading_run_expects_the_checkpoints_of_the_block_it_varies(real):
    """The L-CODEC readings change `unlearning`, which the sequential-removal pretraining reads;
    their runs read the default block's checkpoints and must expect that block's settings."""
    from unlearnbench import jobconfig

    reading, owner = "lc-real-retrain-reading-authors-code", "lc-real-retrain"
    assert real["experiments"][reading]["reading"]["of"] == owner
    expects = jobconfig.expected_pretraining(real, reading, "lcodec")
    own = jobconfig.settings_hash(jobconfig.build(real, f"pretrain/{reading}/original"))
    theirs = jobconfig.settings_hash(jobconfig.build(real, f"pretrain/{owner}/original"))
    assert own != theirs  # the reading changes a key its kind's pretraining reads
    assert expects == {"original": theirs}
