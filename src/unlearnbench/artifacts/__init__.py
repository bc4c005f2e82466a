"""Registry of paper artifacts (tables and figures), one module each."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

# artifact name -> module under unlearnbench.artifacts; one line per artifact.
ARTIFACT_MODULES = {
    "gs-table1": "gs_table1",
    "gs-fig1": "gs_fig1",
}


def get_artifact(name: str) -> Any:
    try:
        module: ModuleType = importlib.import_module(f"unlearnbench.artifacts.{ARTIFACT_MODULES[name]}")
    except KeyError:
        raise KeyError(f"unknown artifact {name!r}; known: {', '.join(ARTIFACT_MODULES)}") from None
    return module.ARTIFACT


def all_artifacts() -> list[Any]:
    return [get_artifact(name) for name in ARTIFACT_MODULES]
