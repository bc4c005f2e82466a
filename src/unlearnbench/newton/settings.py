"""Hyperparameters of the Newton-type methods, parsed and validated from ``request.hyperparameters``.

Every key is optional except ``l2_lambda`` (the weight decay the model was trained with:
the Hessian damping and the strong-convexity constant of the noise). Unknown keys are an
error, so a typo in the config cannot silently fall back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from unlearnbench.newton.gradient_bank import GradientBank
from unlearnbench.newton.hessian import HESSIANS
from unlearnbench.newton.noise import NOISES, NoiseScale, noise_sample_size, noise_scale
from unlearnbench.newton.selection import EMPTY_SELECTIONS, SELECTIONS

SAMPLE_GRADIENTS = ("regularised", "data-only")


@dataclass
class NewtonSettings:
    """What a Newton removal step needs besides the model and the data.

    ``sample_gradient``: ``regularised`` (default) differentiates the per-sample
    regularised loss ``loss + lambda/2 ||w||^2``, which makes the step the exact Newton
    step of the L2-regularised objective; ``data-only`` drops the ``lambda w`` term, as
    the authors' code does.

    ``noise_n``: the ``n`` of the noise formula (see :mod:`~unlearnbench.newton.noise`); null:
    the current training-set size for ``noise: paper``, the authors' ``orig_trainset_size``
    for ``noise: authors-code``.

    ``empty_selection``: what happens when L-FOCI selects no slice (its first statistic is not
    positive). ``keep-best`` (default) updates the best-scoring slice anyway, as the authors'
    ``foci``/``cheap_foci`` always keep their first pick; ``allow-empty`` leaves the model
    unchanged. Either way the removal's diagnostics say so (``unchanged``, ``selection_note``).
    """

    selection: str = "lfoci"
    hessian: str = "exact"
    noise: str = "paper"
    epsilon: float = 0.1
    delta: float = 0.01
    M: float = 0.25  # Lipschitz constant of the Hessian
    L: float = 1.0  # Lipschitz constant of the loss
    l2_lambda: float | None = None
    perturbations: int = 1000
    perturbation_std: float = 0.1
    max_slices: int | None = None
    cg_tol: float = 1e-6
    cg_max_iter: int = 500
    batch_size: int = 1024
    fd_step: float = 1e-3
    sample_gradient: str = "regularised"
    feature_chunk: int = 256
    noise_n: int | None = None
    empty_selection: str = "keep-best"
    gradient_bank: GradientBank | None = None

    @classmethod
    def from_hyperparameters(cls, hyperparameters: Mapping[str, Any], **fixed: Any) -> NewtonSettings:
        """Parse ``hyperparameters``; ``fixed`` are values the method itself imposes."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(hyperparameters) - known)
        if unknown:
            raise ValueError(
                f"unknown hyperparameter(s) {unknown} for a Newton method; known: {sorted(known)}"
            )
        for key, value in fixed.items():
            given = hyperparameters.get(key, value)
            if given != value:
                raise ValueError(f"this method fixes {key}={value!r}; the config asks for {given!r}")
        values = {**hyperparameters, **fixed}
        bank = values.get("gradient_bank")
        if bank is not None and not isinstance(bank, GradientBank):
            values["gradient_bank"] = GradientBank.from_payload(bank)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        for key, value, allowed in (
            ("selection", self.selection, SELECTIONS),
            ("hessian", self.hessian, HESSIANS),
            ("noise", self.noise, NOISES),
            ("sample_gradient", self.sample_gradient, SAMPLE_GRADIENTS),
            ("empty_selection", self.empty_selection, EMPTY_SELECTIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{key} must be one of {', '.join(allowed)}; got {value!r}")
        if self.l2_lambda is None:
            raise ValueError("l2_lambda (the weight decay used in training) is required by Newton methods")
        if self.l2_lambda < 0:
            raise ValueError(f"l2_lambda must be non-negative, got {self.l2_lambda}")
        for key in ("perturbations", "cg_max_iter", "batch_size", "feature_chunk"):
            if int(getattr(self, key)) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        for key in ("perturbation_std", "cg_tol", "fd_step"):
            if float(getattr(self, key)) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if self.noise_n is not None and (isinstance(self.noise_n, bool) or int(self.noise_n) <= 0):
            raise ValueError(f"noise_n must be a positive integer or null, got {self.noise_n!r}")
        if self.max_slices is not None and self.max_slices <= 0:
            raise ValueError(f"max_slices must be positive or null, got {self.max_slices}")
        if self.hessian == "finite-difference" and self.gradient_bank is None:
            raise ValueError("hessian: finite-difference needs the gradient bank of the original training")

    def noise_sample_size(self, n_train: int) -> int:
        """The ``n`` that enters the noise formula for a removal from ``n_train`` points."""
        return noise_sample_size(self.noise, n_train, self.noise_n)

    def noise_for(self, n_train: int, m: int) -> NoiseScale:
        """The removal noise for ``m`` points out of ``n_train``: every constant of the formula
        (variant, lambda, epsilon, delta, M, L) comes from these settings, so no caller can mix them."""
        return noise_scale(
            self.noise,
            n=self.noise_sample_size(n_train),
            m=m,
            l2_lambda=float(self.l2_lambda),
            epsilon=self.epsilon,
            delta=self.delta,
            hessian_lipschitz=self.M,
            lipschitz=self.L,
        )


def fill_authors_noise_n(hyperparameters: dict[str, Any], n: int) -> dict[str, Any]:
    """Set ``noise_n`` to ``n`` when the noise is ``authors-code`` and ``noise_n`` is null.

    For the experiments whose authors' script passes another ``orig_trainset_size`` than the
    library default of 50000 (LEDGAR and re-ID: the full training-set size; VGGFace: 982803).
    """
    if hyperparameters.get("noise") == "authors-code" and hyperparameters.get("noise_n") is None:
        hyperparameters["noise_n"] = int(n)
    return hyperparameters
