"""The workflow's cache on a tiny config (issue 14, probes 1 and 4): a dry run writes nothing,
every job reads its own job config, and an edit reruns exactly the jobs that read it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fixtures.workflow import run_snakemake

from unlearnbench import jobconfig
from unlearnbench.config import validate_config
from unlearnbench.models import load_model

RUN = "results/tiny/runs/gs-digits138/gradient-ascent/seed0.json"


def _tiny(repo_root: Path) -> dict:
    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    experiment = config["experiments"]["gs-digits138"]
    for method in ("feature-unlearning", "retrain"):
        experiment["methods"].pop(method, None)
    experiment["vae"]["epochs"] = 2
    experiment["classifier"].update(epochs=1, width=4, min_accuracy=0.0)
    experiment["evaluation"].update(n_samples=50, grid_samples=4)
    config.update(
        profile="tiny",
        seeds=[0],
        published=str(repo_root / "config" / "published.yaml"),
        experiments={"gs-digits138": experiment},
    )
    validate_config(config)
    return config


def _snakemake(repo_root: Path, workdir: Path, config: dict, *args: str) -> str:
    path = workdir.parent / "profile.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, "--cores", "1", *args, "--configfile", str(path), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def _planned_rules(output: str) -> set[str]:
    """Rule names of the dry run's job table."""
    if "Nothing to be done" in output:
        return set()
    table = output.split("Job stats:", 1)[1].split("Reasons:", 1)[0]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, flags=re.M)} - {"total"}


def _snapshot(workdir: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(workdir)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in workdir.rglob("*")
        if p.is_file() and ".snakemake" not in p.parts
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory, repo_root_module):
    """One tiny run built once (prepare, two pretrainings, one run), shared by the tests below.

    Before building, a dry run in the same folder must leave it empty (probe 1: parsing the DAG
    used to rewrite the resolved config)."""
    workdir = tmp_path_factory.mktemp("cache") / "work"
    workdir.mkdir()
    config = _tiny(repo_root_module)
    dry = _snakemake(repo_root_module, workdir, config, "-n", RUN)
    written_by_dry_run = _snapshot(workdir)
    _snakemake(repo_root_module, workdir, config, RUN)
    return workdir, config, dry, written_by_dry_run


@pytest.fixture(scope="module")
def repo_root_module() -> Path:
    return Path(__file__).resolve().parents[1]


def test_a_dry_run_writes_nothing(built):
    _, _, dry, written = built
    assert "pretrain" in _planned_rules(dry)
    assert written == {}, "a dry run must not write any file"


def test_pretraining_and_run_jobs_record_a_benchmark(built):
    """Snakemake's `benchmark:` file of each heavy job, per profile under results/<profile>/benchmarks/."""
    workdir = built[0]
    benchmarks = workdir / "results/tiny/benchmarks"
    expected = [
        "pretrain/gs-digits138/original-seed0.tsv",
        "pretrain/gs-digits138/classifier-seed0.tsv",
        "run/gs-digits138/gradient-ascent/seed0.tsv",
    ]
    for name in expected:
        header = (benchmarks / name).read_text().splitlines()[0].split("\t")
        assert header[:2] == ["s", "h:m:s"] and "max_rss" in header, name


def test_jobs_read_the_job_config_they_were_scheduled_with(built, repo_root_module):
    workdir, config, _, _ = built
    run = json.loads((workdir / RUN).read_text())
    scope = "run/gs-digits138/gradient-ascent"
    (job_file,) = (workdir / "results/tiny/jobs/run/gs-digits138").glob("gradient-ascent.*.json")
    document = json.loads(job_file.read_text())
    assert (
        document["scope"] == scope
        and job_file.name == f"gradient-ascent.{jobconfig.file_hash(document)}.json"
    )
    # The run records the hash of exactly the settings it read; they hold no other method's block.
    assert run["provenance"]["config_hash"] == jobconfig.settings_hash(document["config"])
    assert set(document["config"]["experiments"]["gs-digits138"]["methods"]) == {"gradient-ascent"}
    # Pretraining checkpoints record their own settings hash, which the run checks.
    assert set(document["expects"]) == {"original", "classifier"}
    for role, expected in document["expects"].items():
        _, meta = load_model(workdir / f"results/tiny/models/gs-digits138/{role}-seed0.pt")
        assert meta["provenance"]["config_hash"] == expected
    stale = dict(document, expects={**document["expects"], "original": "0" * 64})
    stale_file = workdir.parent / "stale-job.json"
    stale_file.write_text(json.dumps(stale))
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "unlearnbench.cli",
            "--config",
            str(stale_file),
            "run",
            "--experiment",
            "gs-digits138",
            "--method",
            "gradient-ascent",
            "--seed",
            "0",
            "--output",
            str(workdir.parent / "x.json"),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 1 and "original-seed0.pt was trained with settings" in refused.stderr
    assert not (workdir.parent / "x.json").exists()

    # A dry run with other settings (another invocation, started while this one runs) changes nothing.
    before = _snapshot(workdir)
    changed = json.loads(json.dumps(config))
    changed["experiments"]["gs-digits138"]["vae"]["epochs"] = 3
    output = _snakemake(repo_root_module, workdir, changed, "-n", "-p", RUN)
    assert _snapshot(workdir) == before
    assert "pretrain" in _planned_rules(output)
    assert re.search(
        r"--config results/tiny/jobs/pretrain/gs-digits138/original\.[0-9a-f]{16}\.json pretrain", output
    )


def test_editing_one_method_reruns_only_its_runs(built, repo_root_module):
    workdir, config, _, _ = built
    edited = json.loads(json.dumps(config))
    edited["experiments"]["gs-digits138"]["methods"]["gradient-ascent"]["lr"] *= 2
    assert _planned_rules(_snakemake(repo_root_module, workdir, edited, "-n", RUN)) == {
        "job_config",
        "run_generative",
    }
    other = json.loads(json.dumps(config))
    other["experiments"]["gs-digits138"]["methods"]["gradient-surgery"]["lr"] *= 2
    other["experiments"]["gs-digits138"]["evaluation"]["n_samples"] = 60
    planned = _planned_rules(_snakemake(repo_root_module, workdir, other, "-n", RUN))
    assert "pretrain" not in planned and "prepare_data" not in planned
