"""The Newton-type unlearning methods end to end: validate, select, step, report.

``blockwise_unlearn`` is L-CODEC's Alg. 1 with a configurable selection (``lfoci``,
``cheap``, ``random``, ``full``); ``kfac_unlearn`` is the K-FAC alternative of the
paper's appendix D.4. Both work on a deep copy of the model (the caller's model is never
modified) and draw every random number from ``request.generator`` in a fixed order:
perturbations, L-FOCI's seed, the random selection, then the removal noise. The perturbed
copies are the request's ``perturbation`` (Gaussian input noise of ``perturbation_std``
unless the caller passes another, as text does with token replacement).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from unlearnbench.batching import Tensors, as_tensors, n_samples
from unlearnbench.newton.activations import perturbed_activations
from unlearnbench.newton.kfac import kfac_factors, kfac_solve, layer_matrix
from unlearnbench.newton.noise import add_noise
from unlearnbench.newton.selection import Selection, select_slices
from unlearnbench.newton.settings import NewtonSettings
from unlearnbench.newton.slices import block_from_slices, slice_layers, slice_names, total_slices
from unlearnbench.newton.update import block_newton_step
from unlearnbench.perturbations import GaussianInputNoise
from unlearnbench.request import InvalidForgetSetError, UnlearningOutcome, UnlearningRequest
from unlearnbench.timing import Stopwatch

#: Selected slice names are listed in the diagnostics up to this many (a full selection is only counted).
MAX_LISTED_SLICES = 64
#: Hyperparameters of slice selection and block Hessians, meaningless for K-FAC.
KFAC_IGNORES = frozenset(
    {
        "selection",
        "hessian",
        "perturbations",
        "perturbation_std",
        "max_slices",
        "cg_tol",
        "cg_max_iter",
        "fd_step",
        "feature_chunk",
        "gradient_bank",
    }
)


def _check_indices(dataset: Dataset, what: str) -> None:
    """Reject ``Subset`` indices outside their base dataset (negative ones would silently wrap)."""
    while isinstance(dataset, Subset):
        size = len(dataset.dataset)
        indices = torch.as_tensor(list(dataset.indices), dtype=torch.long)
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= size):
            bad = indices[(indices < 0) | (indices >= size)][:5].tolist()
            raise InvalidForgetSetError(f"the {what} set has indices out of range [0, {size}): {bad}")
        dataset = dataset.dataset


def load_request_data(request: UnlearningRequest, need_retain: bool) -> tuple[Tensors, Tensors | None]:
    """Validate the request's forget (and retain) sets and materialise them on the device."""
    if len(request.forget) == 0:
        raise InvalidForgetSetError("the forget set is empty: nothing to unlearn")
    _check_indices(request.forget, "forget")
    m = len(request.forget)
    if request.n_train - m <= 0:
        raise InvalidForgetSetError(
            f"the forget set has {m} samples but the training set only {request.n_train}: nothing would remain"
        )
    forget = as_tensors(request.forget, request.device)
    retain = None
    if need_retain:
        _check_indices(request.retain, "retain")
        if len(request.retain) == 0:
            raise ValueError("the retain set is empty: the Hessian of the remaining data cannot be estimated")
        retain = as_tensors(request.retain, request.device)
    return forget, retain


def blockwise_unlearn(model: nn.Module, request: UnlearningRequest, **fixed: Any) -> UnlearningOutcome:
    """Select slices, then take the noisy Newton step on that block only."""
    settings = NewtonSettings.from_hyperparameters(request.hyperparameters, **fixed)
    generator = request.generator
    with Stopwatch(request.device) as watch:
        work = copy.deepcopy(model).to(request.device)
        work.eval()
        layers = slice_layers(work)
        n_slices = total_slices(layers)
        forget, retain = load_request_data(request, need_retain=settings.hessian != "finite-difference")
        features = losses = None
        if settings.selection != "full":
            perturbation = request.perturbation
            if perturbation is None:
                perturbation = GaussianInputNoise(settings.perturbation_std)
            sample = perturbed_activations(
                work,
                request.loss_fn,
                forget,
                layers,
                perturbation=perturbation,
                copies=settings.perturbations,
                generator=generator,
                chunk=settings.feature_chunk,
            )
            features, losses = sample.features, sample.losses
        selection = select_slices(
            settings.selection,
            n_slices,
            generator,
            features,
            losses,
            max_slices=settings.max_slices,
            empty_selection=settings.empty_selection,
        )
        diagnostics: dict[str, Any] = {
            "selection": settings.selection,
            "n_slices_total": n_slices,
            "n_slices_selected": len(selection.indices),
            "noise": settings.noise,
        }
        if settings.selection != "full":
            names = slice_names(layers)
            diagnostics["selected_slices"] = [names[i] for i in selection.indices[:MAX_LISTED_SLICES]]
            diagnostics["lfoci_selected"] = len(selection.lfoci_selected)
            diagnostics["lfoci_statistics"] = selection.lfoci_statistics[:MAX_LISTED_SLICES]
        diagnostics.update(
            step_on_selection(work, request, selection, layers, forget, retain, settings, generator)
        )
    return UnlearningOutcome(model=work, seconds=watch.seconds, diagnostics=diagnostics)


def step_on_selection(
    work: nn.Module,
    request: UnlearningRequest,
    selection: Selection,
    layers: Any,
    forget: Tensors,
    retain: Tensors | None,
    settings: NewtonSettings,
    generator: torch.Generator,
) -> dict[str, Any]:
    """The block step on the selected slices, or nothing; the diagnostics always say whether the model changed.

    ``unchanged`` is true when no parameter moved (no slice selected, or a zero step without
    noise); the experiment kinds collect those removals in the run JSON.
    """
    out: dict[str, Any] = {}
    if selection.note:
        out["selection_note"] = selection.note
    if not selection.indices:
        out.update(n_params_updated=0, unchanged=True)
        return out
    block = block_from_slices(layers, selection.indices)
    report = block_newton_step(work, request.loss_fn, block, forget, retain, request.n_train, settings, generator)
    out.update(report.as_dict())
    out["unchanged"] = report.step_norm == 0.0 and report.noise_sigma == 0.0
    return out


def kfac_unlearn(model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome:
    """Newton removal step with the per-layer K-FAC Hessian of the retain set, noise as configured."""
    settings = NewtonSettings.from_hyperparameters(request.hyperparameters)
    # Keys of the block methods that K-FAC has no use for (it updates every supported layer
    # with its own curvature); accepted so that one shared ``unlearning`` block can serve all
    # methods, and listed in the diagnostics so nothing is ignored silently.
    ignored = sorted(set(request.hyperparameters) & KFAC_IGNORES)
    lam = float(settings.l2_lambda)
    with Stopwatch(request.device) as watch:
        work = copy.deepcopy(model).to(request.device)
        work.eval()
        layers = slice_layers(work)
        forget, retain = load_request_data(request, need_retain=True)
        assert retain is not None
        m, n = n_samples(forget), request.n_train
        factors, skipped = kfac_factors(work, request.loss_fn, retain, layers, settings.batch_size)
        params = dict(work.named_parameters())
        targets = [params[name] for f in factors for name in f.layer.parameter_names]
        grads = torch.autograd.grad(request.loss_fn(work, forget), targets)
        grad_of = dict(zip([name for f in factors for name in f.layer.parameter_names], grads, strict=True))
        scale = settings.noise_for(n, m)
        updated, step_sq, pis = 0, 0.0, {}
        with torch.no_grad():
            for f in factors:
                weight = params[f.layer.weight]
                bias = params[f.layer.bias] if f.layer.bias else None
                current = layer_matrix(weight, bias)
                g = m * layer_matrix(
                    grad_of[f.layer.weight], grad_of[f.layer.bias] if bias is not None else None
                )
                if settings.sample_gradient == "regularised":
                    g = g + m * lam * current
                step, pis[f.layer.name] = kfac_solve(f, g / (n - m), lam)
                new = add_noise((current + step).reshape(-1), scale.sigma, request.generator).reshape(
                    current.shape
                )
                columns = weight[0].numel()
                weight.copy_(new[:, :columns].reshape(weight.shape))
                if bias is not None:
                    bias.copy_(new[:, columns])
                updated += new.numel()
                step_sq += float(step.pow(2).sum())
    diagnostics = {
        "layers_updated": [f.layer.name for f in factors],
        "layers_skipped": skipped,
        "n_params_updated": updated,
        "step_norm": step_sq**0.5,
        "kfac_pi": pis,
        "noise": settings.noise,
        "noise_sigma": scale.sigma,
        "noise_gamma": scale.gamma,
        "noise_m": scale.m,
        "noise_n": settings.noise_sample_size(n),
        "ignored_hyperparameters": ignored,
        "unchanged": updated == 0 or (step_sq == 0.0 and scale.sigma == 0.0),
    }
    return UnlearningOutcome(model=work, seconds=watch.seconds, diagnostics=diagnostics)
