"""Experiment kinds, looked up by the ``kind`` key of an experiment's config block.

Convention: kind ``sequential-removal`` lives in ``unlearnbench.experiments.sequential_removal``
and its config schema in ``unlearnbench/schemas/kinds/sequential-removal.yaml``. Adding a kind adds those
two files and nothing else.
"""

from __future__ import annotations

from types import ModuleType

from unlearnbench.plugins import import_plugin


def get_kind(kind: str) -> ModuleType:
    module = import_plugin(__name__, kind, "experiment kind")
    if getattr(module, "KIND", None) != kind:
        raise KeyError(f"{module.__name__} does not declare KIND = {kind!r}")
    return module
