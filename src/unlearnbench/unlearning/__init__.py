"""Unlearning methods, each registered by name (see :mod:`unlearnbench.unlearning.base`).

Importing this package imports every method module so the registry is complete.
"""

import importlib

from unlearnbench.unlearning.base import (
    InvalidForgetSetError,
    UnlearningOutcome,
    UnlearningRequest,
    available_methods,
    get_method,
    register,
)

__all__ = [
    "InvalidForgetSetError",
    "UnlearningOutcome",
    "UnlearningRequest",
    "available_methods",
    "get_method",
    "register",
]

# One line per method module; importing a module registers its methods.
METHOD_MODULES = ("reference", "ascent")
for _module in METHOD_MODULES:
    importlib.import_module(f"unlearnbench.unlearning.{_module}")
