"""The Snakemake workflow end to end on a tiny config, in a temporary folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fixtures.workflow import run_snakemake

from unlearnbench.config import validate_config


def _tiny_config(repo_root: Path) -> dict:
    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    config["profile"] = "tiny"
    config["seeds"] = [0]
    config["published"] = str(repo_root / "config" / "published.yaml")
    # Only the MNIST138 stand-in column, with the methods of the foundation: the other
    # experiments have tests of their own, and this one checks the workflow, not the methods.
    experiment = config["experiments"]["gs-digits138"]
    config["experiments"] = {"gs-digits138": experiment}
    experiment["methods"].pop("feature-unlearning", None)
    experiment["vae"]["epochs"] = 20
    experiment["classifier"].update(epochs=3, width=4, min_accuracy=0.0)
    experiment["evaluation"].update(n_samples=200, grid_samples=16)
    validate_config(config)
    return config


def _snakemake(repo_root: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, "--cores", "2", *args)


def test_workflow_end_to_end(tmp_path, repo_root):
    work = tmp_path / "work"
    work.mkdir()
    configfile = tmp_path / "tiny.yaml"
    configfile.write_text(yaml.safe_dump(_tiny_config(repo_root)))
    runs = work / "results" / "tiny" / "runs" / "gs-digits138"

    # 1. One figure builds only what it needs: BEFORE and gradient surgery, not the other methods.
    result = _snakemake(repo_root, work, "figures/tiny/gs-fig1.png", "--configfile", str(configfile))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work / "figures" / "tiny" / "gs-fig1.png").stat().st_size > 0
    assert (runs / "before" / "seed0.json").exists() and (runs / "gradient-surgery" / "seed0.json").exists()
    assert not (runs / "gradient-ascent").exists() and not (runs / "retrain").exists()
    assert not (work / "results" / "tiny" / "tables" / "gs-table1.csv").exists()

    # 2. Everything: tables, figures, comparison.
    result = _snakemake(repo_root, work, "--configfile", str(configfile))
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(work / "results" / "tiny" / "tables" / "gs-table1.csv")
    assert list(table["row"]) == ["BEFORE", "GRAD.ASCNT.", "OURS", "RETRAIN"]
    assert table["stand_in"].all()
    for name in ("gs-table1", "gs-fig1"):
        for path in (f"results/tiny/tables/{name}.md", f"figures/tiny/{name}.pdf", f"figures/tiny/{name}.png"):
            assert (work / path).stat().st_size > 0, path
    comparison = (work / "results" / "tiny" / "comparison.md").read_text()
    assert "stand-in data, not comparable" in comparison and "MOON ET AL. (2023)" in comparison
    assert "STAND-IN DATA" in (work / "results" / "tiny" / "tables" / "gs-table1.md").read_text()

    run = json.loads((runs / "gradient-surgery" / "seed0.json").read_text())
    assert {"config_hash", "seed", "versions", "device", "git"} <= set(run["provenance"])
    assert run["provenance"]["seed"] == 0 and "torch" in run["provenance"]["versions"]
    assert set(run["metrics"]) >= {"fratio", "IS", "FID", "time", "unlearn_seconds"}

    # 3. Nothing left to do: cached artifacts are reused.
    result = _snakemake(repo_root, work, "-n", "--configfile", str(configfile))
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_misspelt_key_stops_the_workflow_with_its_name(tmp_path, repo_root):
    config = _tiny_config(repo_root)
    config["experiments"]["gs-digits138"]["classifier"]["widht"] = 3
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = _snakemake(repo_root, tmp_path, "-n", "--configfile", str(configfile))
    assert result.returncode != 0
    assert "'widht'" in result.stdout + result.stderr


def test_paper_profile_dry_runs_without_data(tmp_path, repo_root):
    config = yaml.safe_load((repo_root / "config" / "paper.yaml").read_text())
    config["published"] = str(repo_root / "config" / "published.yaml")
    configfile = tmp_path / "paper.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = _snakemake(repo_root, tmp_path, "-n", "--configfile", str(configfile))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    assert "gs-mnist138" in out and "prepare_data" in out
    assert "gpu=1" in out  # GPU jobs declare the resource on the paper profile
    # the experiments issue 10 added: re-ID on every dataset of B.2.8, K-FAC of D.4
    for run in ("runs/lc-reid-msmt17-mlfn/", "runs/lc-reid-prid-resnet50/", "runs/lc-reid-grid-mobilenetv2/"):
        assert run in out, run
    assert "runs/lc-mnist-kfac/newton-kfac/seed2.json" in out and "figures/paper/lc-d4-kfac.png" in out


@pytest.mark.parametrize("verb", ["prepare-data", "pretrain", "run", "aggregate", "draw", "compare", "artifacts"])
def test_cli_help_lists_the_verbs_rules_call(verb):
    result = subprocess.run([sys.executable, "-m", "unlearnbench.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and verb in result.stdout


def test_cli_artifacts_lists_paper_status_and_outputs(repo_root):
    result = subprocess.run([sys.executable, "-m", "unlearnbench.cli", "--config", str(repo_root / "config" / "config.yaml"),
                             "artifacts"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "gs-table1" in result.stdout and "gradient-surgery" in result.stdout
    assert "figures/quick/gs-fig1.png" in result.stdout and "results/quick/tables/gs-table1.csv" in result.stdout
