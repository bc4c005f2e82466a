"""A small target of the quick profile through a real SLURM cluster equals the local build (issue 14).

Needs a running cluster (``SLURM_CONF`` set, ``sinfo`` answering) and the Snakemake SLURM
executor plugin; ``.ci/run`` installs Debian's ``slurm-wlm`` and ``munge`` and the
``cluster`` extra, starts a one-node cluster with ``.ci/slurm-cluster.sh`` and runs this test.
Elsewhere it is skipped with the reason. The target: one gradient-ascent run of the
MNIST138 stand-in column at a tiny scale (data preparation, two pretrainings, one run: four
SLURM jobs submitted through ``workflow/profiles/slurm``, as a user would).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fixtures.workflow import run_snakemake

from unlearnbench.models import load_model

pytestmark = pytest.mark.slurm
TARGET = "results/quick/runs/gs-digits138/gradient-ascent/seed0.json"
TIMINGS = {"time", "unlearn_seconds", "train_seconds"}


def _cluster_reason() -> str | None:
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "the Snakemake SLURM executor plugin is not installed (pip install -e '.[cluster]')"
    if not shutil.which("sbatch") or not shutil.which("sinfo"):
        return "SLURM client commands are not installed (apt-get install slurm-wlm)"
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sinfo failed: {exc}"
    if states.returncode != 0 or not any(s in states.stdout for s in ("idle", "mixed", "allocated")):
        return f"no SLURM cluster answers (start one: .ci/slurm-cluster.sh start DIR): {states.stderr.strip()[:200]}"
    return None


def _config(repo_root: Path) -> dict:
    """The quick profile's MNIST138 stand-in column, cut to seconds of training."""
    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    experiment = config["experiments"]["gs-digits138"]
    experiment["vae"]["epochs"] = 3
    experiment["classifier"].update(epochs=1, width=4, min_accuracy=0.0)
    experiment["evaluation"].update(n_samples=100, grid_samples=4)
    config.update(
        seeds=[0],
        published=str(repo_root / "config" / "published.yaml"),
        experiments={"gs-digits138": experiment},
    )
    return config


def _build(repo_root: Path, workdir: Path, configfile: Path, *extra: str) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True)
    return run_snakemake(workdir, *extra, TARGET, "--configfile", str(configfile))


def _without_timings(run: dict) -> dict:
    out = {k: v for k, v in run.items() if k != "provenance"}
    out["metrics"] = {k: v for k, v in run["metrics"].items() if k not in TIMINGS}
    return out


def test_quick_target_on_slurm_equals_the_local_build(tmp_path, repo_root):
    reason = _cluster_reason()
    if reason:
        pytest.skip(reason)
    configfile = tmp_path / "quick.yaml"
    configfile.write_text(yaml.safe_dump(_config(repo_root)))
    local = _build(repo_root, tmp_path / "local", configfile, "--cores", "1")
    assert local.returncode == 0, local.stderr[-3000:]
    cluster = _build(
        repo_root,
        tmp_path / "slurm",
        configfile,
        "--workflow-profile",
        str(repo_root / "workflow" / "profiles" / "slurm"),
        "--jobs",
        "2",
        "--slurm-status-command",
        "squeue",
        "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks",
        "5",
        "--latency-wait",
        "10",
    )
    assert cluster.returncode == 0, (cluster.stdout + cluster.stderr)[-4000:]
    log = cluster.stdout + cluster.stderr
    # prepare_data, two pretrainings and the run went through sbatch (the job configs are local rules).
    assert log.count("has been submitted with SLURM jobid") == 4, log[-3000:]

    runs = [json.loads((tmp_path / where / TARGET).read_text()) for where in ("local", "slurm")]
    assert _without_timings(runs[0]) == _without_timings(runs[1])
    assert runs[0]["provenance"]["config_hash"] == runs[1]["provenance"]["config_hash"]
    samples = [
        np.load(tmp_path / where / TARGET.replace(".json", ".samples.npz"))["images"]
        for where in ("local", "slurm")
    ]
    assert np.array_equal(samples[0], samples[1])
    for name in ("original-seed0.pt", "classifier-seed0.pt"):
        models = [
            load_model(tmp_path / where / "results/quick/models/gs-digits138" / name)[0]
            for where in ("local", "slurm")
        ]
        for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values()):
            assert torch.equal(a, b), name
