"""The config schemas ship inside the package, and the Newton settings are written in one place."""

from __future__ import annotations

import copy
import fnmatch
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml

from unlearnbench.config import SCHEMA_BASE, ConfigError, load_schema, shipped_schemas, validate_config
from unlearnbench.newton.settings import NewtonSettings

NEWTON_KEYS = {f.name for f in fields(NewtonSettings)} - {
    "gradient_bank"
}  # the bank is computed, never configured
NEWTON_METHODS = ("lcodec", "newton-full", "newton-random", "newton-kfac")
NEWTON_FILE = "newton.yaml"


def _quick(repo_root: Path) -> dict[str, Any]:
    return yaml.safe_load((repo_root / "config" / "config.yaml").read_text())


def test_a_config_validates_outside_a_checkout(tmp_path, repo_root):
    """Only the package folder, as a wheel installs it; the cwd and the config elsewhere."""
    site = tmp_path / "site"
    shutil.copytree(
        repo_root / "src" / "unlearnbench",
        site / "unlearnbench",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    good = _quick(repo_root)
    (elsewhere / "mine.yaml").write_text(yaml.safe_dump(good))
    bad = copy.deepcopy(good)
    bad["experiments"]["lc-digits-logreg"].setdefault("unlearning", {})["cg_tl"] = 1
    (elsewhere / "typo.yaml").write_text(yaml.safe_dump(bad))
    script = (
        "import unlearnbench, unlearnbench.config as c\n"
        f"assert unlearnbench.__file__.startswith({str(site)!r}), unlearnbench.__file__\n"
        "c.load_config('mine.yaml')\n"
        "try:\n"
        "    c.load_config('typo.yaml')\n"
        "except c.ConfigError as error:\n"
        "    print(error)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert (
        "unknown key 'cg_tl' in experiments.lc-digits-logreg.unlearning (did you mean 'cg_tol'?)"
        in result.stdout
    )


def test_every_schema_file_is_package_data(repo_root):
    package = repo_root / "src" / "unlearnbench"
    patterns = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    files = [p.relative_to(package).as_posix() for p in (package / "schemas").rglob("*") if p.is_file()]
    assert "schemas/profile.yaml" in files and "schemas/newton.yaml" in files
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in patterns["unlearnbench"])]
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_the_newton_file_holds_every_key_of_newton_settings():
    defs = shipped_schemas()[NEWTON_FILE]["$defs"]
    block = defs["block"]
    assert block["$ref"] == "#/$defs/shared" and block["unevaluatedProperties"] is False
    assert set(defs["shared"]["properties"]) | set(block["properties"]) == NEWTON_KEYS


def _objects(node: Any):
    if isinstance(node, Mapping):
        yield node
        for child in node.values():
            yield from _objects(child)
    elif isinstance(node, list):
        for child in node:
            yield from _objects(child)


def test_no_other_schema_file_copies_the_newton_settings():
    for name, document in shipped_schemas().items():
        if name == NEWTON_FILE:
            continue
        for node in _objects(document):
            properties = node.get("properties")
            if isinstance(properties, Mapping):
                copied = sorted(
                    k
                    for k, rule in properties.items()
                    if k in NEWTON_KEYS
                    and not (isinstance(rule, Mapping) and NEWTON_FILE in str(rule.get("$ref")))
                )
                assert len(copied) <= 3, (
                    f"{name} defines Newton settings {copied} again; refer to {NEWTON_FILE}"
                )


def _refers_to_newton(node: Any, resolver) -> bool:
    """``node`` reaches newton.yaml through ``$ref`` (directly, or inside ``oneOf``/``anyOf``)."""
    if not isinstance(node, Mapping):
        return False
    if "$ref" in node:
        resolved = resolver.lookup(node["$ref"])
        if NEWTON_FILE in str(node["$ref"]) or _refers_to_newton(resolved.contents, resolved.resolver):
            return True
    return any(
        _refers_to_newton(option, resolver) for option in node.get("oneOf", []) + node.get("anyOf", [])
    )


def test_every_kind_with_newton_settings_refers_to_the_newton_file():
    schema, registry = load_schema()
    kinds = {name: doc for name, doc in shipped_schemas().items() if name.startswith("kinds/")}
    with_newton = []
    for name, kind in kinds.items():
        resolver = registry.resolver(SCHEMA_BASE + name)
        properties = kind["properties"]
        newton_methods = [
            m for m in NEWTON_METHODS if m in properties.get("methods", {}).get("properties", {})
        ]
        if "unlearning" not in properties and not newton_methods:
            continue
        with_newton.append(name)
        assert _refers_to_newton(properties["unlearning"], resolver), f"{name}: unlearning"
        for method in newton_methods:
            assert _refers_to_newton(properties["methods"]["properties"][method], resolver), (
                f"{name}: {method}"
            )
    assert len(with_newton) == 5, with_newton  # sequential MNIST, CIFAR zoo, faces, text, re-ID


NEWTON_EXPERIMENTS = [
    "lc-digits-logreg",
    "lc-zoo-resnet18",
    "lc-faces-standin",
    "lc-ledgar-standin",
    "lc-reid-standin",
]


@pytest.mark.parametrize("experiment", NEWTON_EXPERIMENTS)
@pytest.mark.parametrize("l2_lambda", [0.0, -0.01])
def test_every_kind_bounds_l2_lambda_as_newton_settings_does(repo_root, experiment, l2_lambda):
    """The drift this file ended: two kinds refused 0, which NewtonSettings accepts."""
    config = _quick(repo_root)
    config["experiments"][experiment].setdefault("unlearning", {})["l2_lambda"] = l2_lambda
    try:
        NewtonSettings(l2_lambda=l2_lambda, noise="none").validate()
        settings_accept = True
    except ValueError:
        settings_accept = False
    try:
        validate_config(config)
        schema_accepts = True
    except ConfigError as error:
        assert "l2_lambda" in str(error)
        schema_accepts = False
    assert schema_accepts == settings_accept
