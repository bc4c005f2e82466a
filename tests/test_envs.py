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
    spec = yaml.safe_load((repo_root / "envs" / env).read_text())
    listed = set()
    for item in spec["dependencies"]:
        if isinstance(item, dict):
            listed |= {_name(r) for r in item["pip"] if not r.startswith("-e")}
        else:
            listed.add(_name(item))
    assert wanted == listed - CONDA_ONLY
