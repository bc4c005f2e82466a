"""The conda environments list the same dependencies as pyproject.toml."""

from __future__ import annotations

import re

import pytest
import tomllib
import yaml

CONDA_NAMES = {"torch": "pytorch", "opencv-python-headless": "opencv-python-headless"}
CONDA_ONLY = {"python", "pip", "cpuonly", "pytorch-cuda"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ]", requirement.strip(), maxsplit=1)[0].lower()


@pytest.mark.parametrize("env", ["cpu.yaml", "gpu.yaml"])
def test_conda_env_matches_pyproject(repo_root, env):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    wanted = {CONDA_NAMES.get(_name(r), _name(r)) for r in project["dependencies"]}
    spec = yaml.safe_load((repo_root / "workflow" / "envs" / env).read_text())
    listed = set()
    for item in spec["dependencies"]:
        if isinstance(item, dict):
            listed |= {_name(r) for r in item["pip"] if not r.startswith("-e")}
        else:
            listed.add(_name(item))
    assert wanted == listed - CONDA_ONLY


@pytest.mark.parametrize("env", ["cpu.yaml", "gpu.yaml"])
def test_conda_env_installs_this_checkout(repo_root, env):
    """The `-e` path is read from the environment file's folder: workflow/envs/ -> the checkout."""
    path = repo_root / "workflow" / "envs" / env
    spec = yaml.safe_load(path.read_text())
    editable = [
        r.split(maxsplit=1)[1]
        for item in spec["dependencies"]
        if isinstance(item, dict)
        for r in item["pip"]
        if r.startswith("-e")
    ]
    assert [(path.parent / target).resolve() for target in editable] == [repo_root.resolve()]


def test_the_conda_paths_of_the_rules_exist(repo_root):
    """A relative `conda:` path is read from the rule file's folder (workflow/rules/)."""
    rules = repo_root / "workflow" / "rules"
    named = {m for f in rules.glob("*.smk") for m in re.findall(r'"(\.\./envs/[^"]+\.yaml)"', f.read_text())}
    assert named == {"../envs/cpu.yaml", "../envs/gpu.yaml"}
    assert all((rules / path).resolve().is_file() for path in named)
