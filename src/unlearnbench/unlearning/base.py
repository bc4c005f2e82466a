"""The one interface every unlearning method implements.

A method is a callable named in the ``METHODS`` mapping of its module. It receives the
trained model and an :class:`UnlearningRequest` and returns an :class:`UnlearningOutcome`. Methods never read
files or configs themselves: the caller (an experiment runner) builds the request, so the
same method can be used from a notebook, a test or the Snakemake workflow.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import Dataset

from unlearnbench.plugins import Registry
from unlearnbench.timing import Stopwatch  # noqa: F401  (re-exported: methods time themselves with it)


class InvalidForgetSetError(ValueError):
    """The forget set is empty, out of range, or overlaps nothing in the training set."""


@dataclass
class UnlearningRequest:
    """Everything a method may need to remove ``forget`` from ``model``.

    ``loss_fn(model, batch) -> scalar tensor`` is the training loss of the model family
    (ELBO for a VAE, cross-entropy for a classifier), so gradient-based methods stay
    agnostic of the model. ``retrain_fn(retain) -> nn.Module`` trains a fresh model with
    the original recipe; only ``retrain`` calls it.
    """

    forget: Dataset
    retain: Dataset
    n_train: int
    loss_fn: Callable[[nn.Module, Any], torch.Tensor]
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    generator: torch.Generator = field(default_factory=torch.Generator)
    retrain_fn: Callable[[Dataset], nn.Module] | None = None

    def __post_init__(self) -> None:
        if len(self.forget) == 0:
            raise InvalidForgetSetError("the forget set is empty: nothing to unlearn")
        if len(self.forget) > self.n_train:
            raise InvalidForgetSetError(
                f"the forget set has {len(self.forget)} samples but the training set only {self.n_train}"
            )



@dataclass
class UnlearningOutcome:
    """The unlearned model, the wall-clock seconds the method took, and its diagnostics."""

    model: nn.Module
    seconds: float
    diagnostics: dict[str, Any] = field(default_factory=dict)


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
