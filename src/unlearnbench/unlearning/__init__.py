"""Unlearning methods: each module of this package names its methods in ``METHODS``.

:func:`get_method` finds them through :mod:`unlearnbench.plugins` (see
:mod:`unlearnbench.unlearning.base` for the interface every method implements).
"""

from unlearnbench.request import InvalidForgetSetError, UnlearningOutcome, UnlearningRequest
from unlearnbench.unlearning.base import available_methods, get_method

__all__ = [
    "InvalidForgetSetError",
    "UnlearningOutcome",
    "UnlearningRequest",
    "available_methods",
    "get_method",
]
