"""Unlearning methods, each registered by name (see :mod:`unlearnbench.unlearning.base`).

Importing this package imports every method module so the registry is complete.
"""

import importlib
import pkgutil

from unlearnbench.request import InvalidForgetSetError, UnlearningOutcome, UnlearningRequest
from unlearnbench.unlearning.base import available_methods, get_method, register

__all__ = [
    "InvalidForgetSetError",
    "UnlearningOutcome",
    "UnlearningRequest",
    "available_methods",
    "get_method",
    "register",
]


def _import_method_modules() -> None:
    """Import every module of this package: each registers its methods with ``@register``.

    Adding a method therefore means adding one module (and naming it in a config).
    """
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_import_method_modules()
