"""Experiment kinds, looked up by the ``kind`` key of an experiment's config block.

Convention: kind ``sequential-removal`` lives in ``unlearnbench.experiments.sequential_removal``
and its config schema in ``config/schema/sequential-removal.yaml``. Adding a kind adds those
two files and nothing else.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def get_kind(kind: str) -> ModuleType:
    module_name = f"unlearnbench.experiments.{kind.replace('-', '_')}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise KeyError(f"unknown experiment kind {kind!r}: no module {module_name}") from None
    if getattr(module, "KIND", None) != kind:
        raise KeyError(f"{module_name} does not declare KIND = {kind!r}")
    return module
