"""The one interface every unlearning method implements, and the registry of methods by name.

A method is a callable named in the ``METHODS`` mapping of its module. It receives the
trained model and an :class:`~unlearnbench.request.UnlearningRequest` and returns an
:class:`~unlearnbench.request.UnlearningOutcome` (those types live in
:mod:`unlearnbench.request`, which the Newton machinery imports without the registry).
Methods never read files or configs themselves: the caller (an experiment runner) builds the
request, so the same method can be used from a notebook, a test or the Snakemake workflow.
"""

from __future__ import annotations

import functools
from typing import Protocol

from torch import nn

from unlearnbench.plugins import Registry
from unlearnbench.request import InvalidForgetSetError, UnlearningOutcome, UnlearningRequest


class UnlearningMethod(Protocol):
    def __call__(self, model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome: ...


#: Every method: the ``METHODS`` mapping of each module of :mod:`unlearnbench.unlearning`.
REGISTRY: Registry[UnlearningMethod] = Registry("unlearning method", "unlearnbench.unlearning", "METHODS")


def get_method(name: str) -> UnlearningMethod:
    method = REGISTRY.get(name)

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
    return REGISTRY.names()
