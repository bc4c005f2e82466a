"""Experiment kinds, looked up by the ``kind`` key of an experiment's config block."""

from __future__ import annotations

import importlib
from types import ModuleType

# kind name -> module under unlearnbench.experiments; one line per kind.
KINDS = {
    "generative-unlearning": "generative",
}


def get_kind(kind: str) -> ModuleType:
    try:
        module = KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown experiment kind {kind!r}; known: {', '.join(sorted(KINDS))}") from None
    return importlib.import_module(f"unlearnbench.experiments.{module}")
