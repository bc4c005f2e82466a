"""Find a plug-in module by naming convention: ``gs-table1`` -> ``<package>.gs_table1``.

Artifacts and experiment kinds are looked up this way, so adding one means adding one
module and never editing a list.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def import_plugin(package: str, name: str, what: str) -> ModuleType:
    """Import ``<package>.<name with - as _>``; a missing module is a ``KeyError`` naming ``what``."""
    module_name = f"{package}.{name.replace('-', '_')}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # the plug-in exists but one of its own imports is missing
        raise KeyError(f"unknown {what} {name!r}: there is no module {module_name}") from None
