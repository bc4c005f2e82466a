"""What an unlearning method receives and returns: the request, the outcome, the forget-set error.

These types sit below both the method registry (:mod:`unlearnbench.unlearning`) and the
Newton machinery the methods use (:mod:`unlearnbench.newton`), and import neither, so
either can be imported first: the methods import :mod:`unlearnbench.newton.pipeline`,
which needs the request, not the registry.

Methods never read files or configs themselves: the caller (an experiment runner) builds
the request, so the same method can be used from a notebook, a test or the Snakemake
workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from unlearnbench.perturbations import Perturbation


class InvalidForgetSetError(ValueError):
    """The forget set is empty, out of range, or overlaps nothing in the training set."""


@dataclass
class UnlearningRequest:
    """Everything a method may need to remove ``forget`` from ``model``.

    ``loss_fn(model, batch) -> scalar tensor`` is the training loss of the model family
    (ELBO for a VAE, cross-entropy for a classifier), so gradient-based methods stay
    agnostic of the model. ``retrain_fn(retain) -> nn.Module`` trains a fresh model with
    the original recipe; only ``retrain`` calls it. ``perturbation`` makes the perturbed
    copies of the forget inputs that L-FOCI selects slices from; ``None`` means Gaussian
    input noise of the hyperparameter ``perturbation_std``
    (:class:`~unlearnbench.perturbations.GaussianInputNoise`), which a given perturbation
    replaces (text passes :class:`~unlearnbench.perturbations.TokenReplacement`).
    """

    forget: Dataset
    retain: Dataset
    n_train: int
    loss_fn: Callable[[nn.Module, Any], torch.Tensor]
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    generator: torch.Generator = field(default_factory=torch.Generator)
    retrain_fn: Callable[[Dataset], nn.Module] | None = None
    perturbation: Perturbation | None = None

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
