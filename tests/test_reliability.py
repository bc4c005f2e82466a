"""The cache never hands out a number that belongs to another configuration (issue 14).

Unit-level probes, seconds each: verified checkpoints and prepared data, resume keyed by
recipe, shareable permissions, readable errors, and the meaning checks of the config. The
workflow-level probes (dry runs write nothing, exactly-what-changed reruns) are in
tests/test_workflow_cache.py.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from fixtures.writers import write_idx_file
from torch import nn
from torch.utils.data import Subset, TensorDataset

from unlearnbench import jobconfig
from unlearnbench.config import ConfigError, load_config, validate_config
from unlearnbench.data import DatasetNotPreparedError, load_dataset, prepare_dataset
from unlearnbench.storage import (
    CorruptCheckpointError,
    CorruptResultError,
    load_checkpoint,
    read_json,
    save_checkpoint,
    write_json,
    write_text,
)
from unlearnbench.training import OptimizerSpec, fit, job_settings
from unlearnbench.unlearning import InvalidForgetSetError, UnlearningRequest, available_methods, get_method


def _overwrite(path: Path, old: bytes, new: bytes) -> None:
    """Replace bytes inside a file in place and keep its mtime (as a disk fault would)."""
    stat = path.stat()
    data = path.read_bytes()
    assert data.count(old) >= 1, "pattern not found in the file"
    path.write_bytes(data.replace(old, new, 1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


# ---------------------------------------------------------------- checkpoints (probe 3)


def test_checkpoint_with_overwritten_bytes_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "model.pt"
    weights = torch.full((256,), 1.2345)
    save_checkpoint(path, {"state_dict": {"w": weights}, "meta": {"seed": 0}})
    _overwrite(path, weights.numpy().tobytes()[:64], bytes(64))
    with pytest.raises(CorruptCheckpointError, match=r"model\.pt fails its checksum.*Delete .*model\.pt"):
        load_checkpoint(path)


def test_checkpoint_round_trip_keeps_content(tmp_path):
    path = tmp_path / "ok.pt"
    body = {
        "state_dict": {"w": torch.arange(6.0).reshape(2, 3)},
        "meta": {"loss": float("nan"), "tags": [1, "a"]},
    }
    save_checkpoint(path, body)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["state_dict"]["w"], body["state_dict"]["w"]) and loaded["meta"]["tags"] == [
        1,
        "a",
    ]


# ---------------------------------------------------------------- prepared data (probe 3)


def _idx_config(tmp_path: Path, test_fraction: float = 0.2) -> dict:
    import numpy as np

    labels = np.repeat(np.array([2, 5, 7], dtype=np.uint8), 10)
    images = (np.arange(labels.size * 24).reshape(-1, 1, 4, 6) % 251 + 1).astype(np.uint8)
    return {
        "mine": {
            "kind": "idx",
            "train_images": str(write_idx_file(tmp_path / "src" / "train-images.gz", images)),
            "train_labels": str(write_idx_file(tmp_path / "src" / "train-labels.gz", labels)),
            "test_fraction": test_fraction,
        }
    }


def test_prepared_data_with_overwritten_bytes_is_refused_and_the_fix_works(tmp_path):
    config, root = _idx_config(tmp_path), tmp_path / "data"
    prepare_dataset("mine", config, root)
    prepared = root / "mine" / "prepared.pt"
    first_image = load_dataset("mine", config, root).train.tensors[0][0]
    raw = (first_image * 255).round().to(torch.uint8).numpy().tobytes()
    _overwrite(prepared, raw, bytes(len(raw)))
    with pytest.raises(
        DatasetNotPreparedError, match=r"prepared\.pt does not match the md5.*Delete .*manifest\.json"
    ):
        load_dataset("mine", config, root)
    (root / "mine" / "manifest.json").unlink()  # the fix the message names
    prepare_dataset("mine", config, root)
    assert torch.equal(load_dataset("mine", config, root).train.tensors[0][0], first_image)


def test_truncated_prepared_data_names_the_manifest_and_the_fix_works(tmp_path):
    config, root = _idx_config(tmp_path), tmp_path / "data"
    prepare_dataset("mine", config, root)
    prepared = root / "mine" / "prepared.pt"
    prepared.write_bytes(prepared.read_bytes()[:200])
    with pytest.raises(DatasetNotPreparedError, match=r"Delete .*mine/manifest\.json"):
        load_dataset("mine", config, root)
    (root / "mine" / "manifest.json").unlink()
    prepare_dataset("mine", config, root)
    assert len(load_dataset("mine", config, root).train) == 24


def test_changed_test_fraction_is_never_served_from_the_old_preparation(tmp_path):
    root = tmp_path / "data"
    before, after = _idx_config(tmp_path, 0.2), _idx_config(tmp_path, 0.5)
    prepare_dataset("mine", before, root)
    with pytest.raises(DatasetNotPreparedError, match="test_fraction"):
        load_dataset("mine", after, root)
    # The workflow re-prepares: the dataset's job config (an input of prepare_data) changes.
    scope = "data/mine"
    hashes = {
        jobconfig.file_hash(jobconfig.wrap(scope, jobconfig.build({"datasets": c}, scope)))
        for c in (before, after)
    }
    assert len(hashes) == 2
    prepare_dataset("mine", after, root)
    assert len(load_dataset("mine", after, root).test) == 15


# ---------------------------------------------------------------- resume (probe 2)


class _Stop(Exception):
    pass


class _KillAt:
    """Simulates `kill` after ``epoch`` epochs (``resume_every_s=0``: the resume file is written each epoch)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, epoch, model, loader):
        if epoch + 1 == self.epoch:
            raise _Stop

    def on_train_end(self, model, loader):
        pass


def _train(epochs: int, resume: Path | None, callbacks=()):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    data = TensorDataset(torch.randn(40, 3, generator=torch.Generator().manual_seed(1)), torch.arange(40) % 2)
    result = fit(
        model,
        lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]),
        data,
        epochs=epochs,
        batch_size=8,
        optimizer=OptimizerSpec("sgd", 0.1),
        seed=0,
        resume_path=resume,
        resume_every_s=0,
        callbacks=callbacks,
    )
    return model, result


def test_resume_file_of_another_recipe_is_ignored(tmp_path, capsys):
    resume = tmp_path / "original-seed0.pt.resume"
    with pytest.raises(_Stop):
        _train(15, resume, callbacks=[_KillAt(6)])  # killed at epoch 6 of 15
    assert resume.exists()
    model, result = _train(3, resume)  # rerun with epochs: 3
    assert "ignoring resume state" in capsys.readouterr().out
    clean, clean_result = _train(3, None)
    assert result.final_loss == result.final_loss  # not NaN
    assert result.final_loss == clean_result.final_loss
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), clean.state_dict().values()))


def test_resume_file_of_other_job_settings_is_ignored(tmp_path, capsys):
    resume = tmp_path / "r.resume"
    with job_settings("a" * 64), pytest.raises(_Stop):
        _train(8, resume, callbacks=[_KillAt(3)])
    with job_settings(
        "b" * 64
    ):  # a setting the fit loop does not see changed (say, the data's test_fraction)
        _train(8, resume)
    assert "ignoring resume state" in capsys.readouterr().out


def test_resume_file_of_the_same_recipe_is_continued_bit_identically(tmp_path, capsys):
    resume = tmp_path / "r.resume"
    with pytest.raises(_Stop):
        _train(8, resume, callbacks=[_KillAt(3)])
    model, _ = _train(8, resume)
    assert "resuming" in capsys.readouterr().out
    clean, _ = _train(8, None)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), clean.state_dict().values()))


# ---------------------------------------------------------------- files and errors (probe 6)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        paths = [
            write_text(tmp_path / "a.txt", "x"),
            write_json(tmp_path / "b.json", {}),
            save_checkpoint(tmp_path / "c.pt", {"x": 1}),
        ]
    finally:
        os.umask(old)
    assert [oct(p.stat().st_mode & 0o777) for p in paths] == [oct(mode)] * 3


def test_truncated_run_json_names_the_file(tmp_path):
    path = tmp_path / "runs" / "seed3.json"
    write_json(path, {"metrics": {"a": 1.0}})
    path.write_text(path.read_text()[:10])
    with pytest.raises(CorruptResultError, match=r"runs/seed3\.json is not valid JSON.*Delete it"):
        read_json(path)


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "unlearnbench.cli", *args], capture_output=True, text=True, timeout=300, input=stdin
    )


def test_aggregate_with_a_truncated_run_names_it_without_traceback(tmp_path, repo_root):
    bad = tmp_path / "seed0.json"
    bad.write_text('{"metrics": {"fra')
    result = _cli(
        "--config",
        str(repo_root / "config" / "config.yaml"),
        "aggregate",
        "--artifact",
        "gs-table1",
        "--csv",
        str(tmp_path / "t.csv"),
        "--md",
        str(tmp_path / "t.md"),
        str(bad),
    )
    assert result.returncode == 1 and str(bad) in result.stderr and "Traceback" not in result.stderr


def test_unknown_method_on_the_cli_is_one_line(tmp_path, repo_root):
    result = _cli(
        "--config",
        str(repo_root / "config" / "config.yaml"),
        "run",
        "--experiment",
        "gs-digits138",
        "--method",
        "gradient-ascnet",
        "--seed",
        "0",
        "--output",
        str(tmp_path / "x.json"),
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "'gradient-ascnet' is not configured" in result.stderr and "gradient-ascent" in result.stderr


def test_job_config_of_another_job_is_refused(tmp_path, repo_root):
    config = load_config(repo_root / "config" / "config.yaml")
    scope = "pretrain/gs-digits138/classifier"
    path = tmp_path / "job.json"
    write_json(path, jobconfig.wrap(scope, jobconfig.build(config, scope)))
    result = _cli(
        "--config",
        str(path),
        "pretrain",
        "--experiment",
        "gs-digits138",
        "--role",
        "original",
        "--seed",
        "0",
        "--output",
        str(tmp_path / "m.pt"),
    )
    assert result.returncode == 1 and "not of 'pretrain/gs-digits138/original'" in result.stderr


def test_write_job_config_writes_the_document_under_its_hash_and_refuses_another(tmp_path, repo_root):
    """The job_config rule pipes the settings to this verb; a name that no longer matches is refused."""
    import json

    config = load_config(repo_root / "config" / "config.yaml")
    scope = "pretrain/gs-digits138/classifier"
    document = jobconfig.wrap(scope, jobconfig.build(config, scope))
    digest = jobconfig.file_hash(document)
    good, stale = tmp_path / f"job.{digest}.json", tmp_path / "job.0123456789abcdef.json"
    text = json.dumps(document)
    written = _cli("write-job-config", "--digest", digest, "--output", str(good), stdin=text)
    assert written.returncode == 0, written.stderr
    assert good.read_text() == jobconfig.file_text(document)
    refused = _cli("write-job-config", "--digest", "0123456789abcdef", "--output", str(stale), stdin=text)
    assert refused.returncode == 1 and "changed since it was scheduled" in refused.stderr
    assert not stale.exists()


def test_readme_tells_how_to_recover_from_a_stale_lock(repo_root):
    readme = (repo_root / "README.md").read_text()
    assert "--unlock" in readme


# ---------------------------------------------------------------- meaning of the config (probe 5)


@pytest.fixture(scope="module")
def quick() -> dict:
    return load_config(Path(__file__).resolve().parents[1] / "config" / "config.yaml")


def _invalid(config: dict, *fragments: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_forget_class_outside_the_classes(quick):
    config = copy.deepcopy(quick)
    config["experiments"]["gs-digits138"]["forget_class"] = 7
    _invalid(config, "experiments.gs-digits138.forget_class", "7", "[1, 3, 8]")


def test_classes_outside_the_dataset(quick):
    config = copy.deepcopy(quick)
    config["experiments"]["gs-digits138"]["classes"] = [1, 3, 12]
    _invalid(config, "experiments.gs-digits138.classes", "[12]")


def test_forget_class_that_is_the_whole_dataset(quick):
    config = copy.deepcopy(quick)
    config["experiments"]["gs-digits138"].update(classes=[1], forget_class=1)
    _invalid(config, "nothing to retain")


@pytest.mark.parametrize("where", ["profile", "experiment"])
def test_repeated_seeds(quick, where):
    config = copy.deepcopy(quick)
    if where == "profile":
        config["seeds"] = [0, 0]
    else:
        config["experiments"]["lc-digits-logreg"]["seeds"] = [1, 2, 1]
    _invalid(config, "seeds must be distinct")


def test_unknown_dataset(quick):
    config = copy.deepcopy(quick)
    config["experiments"]["gs-digits138"]["dataset"] = "digts138"
    _invalid(config, "experiments.gs-digits138.dataset", "unknown dataset 'digts138'")


def test_experiment_that_no_artifact_reads(quick):
    config = copy.deepcopy(quick)
    config["experiments"]["lc-digits-logreg"]["artifact"] = "lc-fig5-mnist-logrge"
    _invalid(config, "experiments.lc-digits-logreg", "drop out")


@pytest.mark.parametrize("what", ["experiment", "method"])
def test_names_that_are_not_path_parts(quick, what):
    config = copy.deepcopy(quick)
    if what == "experiment":
        config["experiments"]["gs digits"] = config["experiments"].pop("gs-digits138")
        _invalid(config, "'gs digits' is not usable as a folder name")
    else:
        methods = config["experiments"]["lc-digits-logreg"]["methods"]
        methods["newton full"] = methods.pop("newton-full")  # the schema lists the methods of each kind
        _invalid(config, "'newton full'")


def test_yaml_syntax_error_is_one_line_with_its_position(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("profile: x\nseeds: [0, 1\nexperiments: {}\n")
    result = _cli("--config", str(path), "validate-config")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not valid YAML (line" in result.stderr


def test_validate_config_rejects_what_would_fail_later(tmp_path, quick):
    config = copy.deepcopy(quick)
    config["experiments"]["gs-digits138"]["forget_class"] = 7
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = _cli("--config", str(path), "validate-config")
    assert result.returncode == 2 and "forget_class" in result.stderr


def test_every_method_refuses_a_forget_set_that_leaves_nothing_to_retain():
    data = TensorDataset(torch.zeros(5, 2), torch.zeros(5))
    request = UnlearningRequest(forget=data, retain=Subset(data, []), n_train=5, loss_fn=lambda m, b: torch.zeros(()))
    methods = available_methods()
    assert {"gradient-ascent", "gradient-surgery", "newton-full", "lcodec", "retrain"} <= set(methods)
    for name in methods:
        with pytest.raises(InvalidForgetSetError, match="nothing would remain to retain"):
            get_method(name)(nn.Linear(2, 1), request)


def test_a_run_depends_on_its_own_method_block_only(quick):
    edited = copy.deepcopy(quick)
    edited["experiments"]["gs-digits138"]["methods"]["gradient-ascent"]["lr"] *= 2

    def digest(config, scope):
        return jobconfig.settings_hash(jobconfig.build(config, scope))

    for scope in (
        "run/gs-digits138/before",
        "run/gs-digits138/gradient-surgery",
        "pretrain/gs-digits138/original",
        "pretrain/gs-digits138/classifier",
        "run/lc-digits-logreg/lcodec",
    ):
        assert digest(quick, scope) == digest(edited, scope), scope
    assert digest(quick, "run/gs-digits138/gradient-ascent") != digest(
        edited, "run/gs-digits138/gradient-ascent"
    )
    edited["experiments"]["gs-digits138"]["vae"]["epochs"] += 1
    assert digest(quick, "pretrain/gs-digits138/classifier") == digest(
        edited, "pretrain/gs-digits138/classifier"
    )
    assert digest(quick, "pretrain/gs-digits138/original") != digest(edited, "pretrain/gs-digits138/original")


def test_profiles_share_the_preparation_of_a_dataset_they_agree_on(quick):
    other = copy.deepcopy(quick)
    other.update(profile="another", seeds=[5], device="cuda", threads=4)
    build = jobconfig.build
    assert build(quick, "data/digits") == build(other, "data/digits")
