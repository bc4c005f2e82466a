"""The one interface every unlearning method implements, and the registry of methods by name.

A method is a callable registered by name. It receives the trained model and an
:class:`~unlearnbench.request.UnlearningRequest` and returns an
:class:`~unlearnbench.request.UnlearningOutcome` (those types live in
:mod:`unlearnbench.request`, which the Newton machinery imports without the registry).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Protocol

from torch import nn

from unlearnbench.request import InvalidForgetSetError, UnlearningOutcome, UnlearningRequest


class UnlearningMethod(Protocol):
    def __call__(self, model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome: ...


_REGISTRY: dict[str, UnlearningMethod] = {}


def register(name: str) -> Callable[[UnlearningMethod], UnlearningMethod]:
    """Class or function decorator that makes a method available under ``name``."""

    def decorate(method: UnlearningMethod) -> UnlearningMethod:
        if name in _REGISTRY:
            raise ValueError(f"unlearning method {name!r} is registered twice")
        _REGISTRY[name] = method
        return method

    return decorate


def get_method(name: str) -> UnlearningMethod:
    from unlearnbench import unlearning  # noqa: F401  (imports every method module)

    try:
        method = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown unlearning method {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None

    def checked(model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome:
        check_retain_left(request)
        return method(model, request)

    return functools.update_wrapper(checked, method)


def check_retain_left(request: UnlearningRequest) -> None:
    """Every method refuses, the same way and before it starts, to forget the whole training set."""
    if len(request.forget) >= request.n_train:
        raise InvalidForgetSetError(
            f"the forget set is the whole training set ({request.n_train} samples): nothing would remain to retain"
        )


def available_methods() -> list[str]:
    from unlearnbench import unlearning  # noqa: F401

    return sorted(_REGISTRY)
