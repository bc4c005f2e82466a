"""Experiment kinds, looked up by the ``kind`` key of an experiment's config block.

A kind is a module of this package that declares ``KIND = "<name>"`` (see
:mod:`unlearnbench.plugins`); its config schema is ``unlearnbench/schemas/kinds/<name>.yaml``. A kind
whose runs save arrays beside the run JSON declares their suffixes in ``RUN_ARRAYS``, so the
workflow knows every file a run writes without naming kinds.
"""

from __future__ import annotations

from types import ModuleType

from unlearnbench.plugins import Registry, declared_module

REGISTRY: Registry[ModuleType] = Registry("experiment kind", __name__, "KIND", declared_module)


def get_kind(kind: str) -> ModuleType:
    return REGISTRY.get(kind)


def run_arrays(kind: str) -> tuple[str, ...]:
    """Suffixes of the files a run of ``kind`` writes beside ``seed<k>.json`` (e.g. ``.samples.npz``)."""
    return tuple(getattr(get_kind(kind), "RUN_ARRAYS", ()))
