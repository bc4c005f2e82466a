"""The papers' qualitative claims as machine-checked predicates (see :mod:`unlearnbench.claims.base`).

Importing this package imports every predicate module so the registry is complete; the
claims themselves (source sentence, predicate in words, thresholds) are data in
``config/claims.yaml``.
"""

import importlib
import pkgutil

from unlearnbench.claims.base import (
    FAILS,
    HOLDS,
    NOT_MEASURED,
    NotMeasured,
    Verdict,
    available_claims,
    get_predicate,
    register,
)

__all__ = [
    "FAILS",
    "HOLDS",
    "NOT_MEASURED",
    "NotMeasured",
    "Verdict",
    "available_claims",
    "get_predicate",
    "register",
]

_NOT_PREDICATES = {"base", "quantities", "evaluate"}


def _import_predicate_modules() -> None:
    """Import every predicate module: each registers its predicates with ``@register``."""
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _NOT_PREDICATES:
            importlib.import_module(f"{__name__}.{module.name}")


_import_predicate_modules()
