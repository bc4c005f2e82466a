"""Registry of paper artifacts (tables and figures), one module each.

Convention: artifact ``gs-table1`` is the ``ARTIFACT`` object of
``unlearnbench.artifacts.gs_table1``; adding an artifact adds one module and nothing else.
"""

from __future__ import annotations

import pkgutil
from typing import Any

import unlearnbench.artifacts as _package
from unlearnbench.plugins import import_plugin

_NOT_ARTIFACTS = {"base", "summaries", "figures", "removal_curves"}


def artifact_names() -> list[str]:
    """Every artifact module's name, gradient-surgery (gs-) before L-CODEC (lc-), then by name."""
    names = [m.name.replace("_", "-") for m in pkgutil.iter_modules(_package.__path__) if m.name not in _NOT_ARTIFACTS]
    return sorted(names, key=lambda n: (not n.startswith("gs-"), n))


def get_artifact(name: str) -> Any:
    return import_plugin(__name__, name, "artifact").ARTIFACT


def all_artifacts() -> list[Any]:
    return [get_artifact(name) for name in artifact_names()]
