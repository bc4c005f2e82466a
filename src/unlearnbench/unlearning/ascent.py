"""``gradient-ascent`` and ``gradient-surgery`` (Bae et al. 2023), which share one loop.

Both ascend the forget loss (paper 1, eq. 1) with the same optimiser and step size, as the
paper requires for a fair comparison; gradient surgery first projects the forget gradient
onto the normal plane of a retain gradient g_r.

Choices the paper leaves open, made explicit here (all configurable):
- *Direction* (``direction``): the paper writes theta <- theta - eta g_f with g_f the
  forget-loss gradient, which would descend; since its objective (eq. 1) maximises the forget
  loss, we step along +g_f (``ascend``, the default). ``descend`` is the update as printed (a
  reading of ``config/readings.yaml``). The projection is unaffected by the sign.
- *How many updates*: ``epochs`` passes over the forget set in batches of
  ``forget_batch_size`` (``null``: the whole forget set, i.e. exactly one update step per
  epoch — the paper's "update the parameter only once (1 epoch)").
- *Which retain samples form g_r*: for every forget batch, a fresh uniform draw of
  ``retain_batch_size`` retain samples (``null``: as many as in the forget batch) from the
  run's generator; g_r is the gradient of their mean loss. ``all``: g_r is the gradient of
  the mean loss over the whole retain set ("a set of retain samples" read as all of D_r).
- *Projection*: on the flat vector of all parameters, always (``projection: always``), or
  only when the gradients conflict (``projection: conflicting``, PCGrad's rule).
- *Optimiser*: a fresh Adam (no moments from pretraining); its first step moves each weight
  by about lr * sign(gradient).
- *Normalisation statistics*: frozen (:func:`~unlearnbench.unlearning.normalisation.frozen_normalisation`),
  as for every gradient-based method: batch norm normalises with the pretraining statistics
  and never updates them, so a step of size 0 leaves the model's outputs bit-identical.

Diagnostics of gradient surgery, per update: ``cosine_forget_retain_before`` and ``_after``,
the cosine of the gradient handed to the optimiser (-grad L_f, before and after the
projection) with g_r; and ``cosine_step_retain``, the cosine of the step the optimiser actually
took, in the same sign convention (cos(-delta theta, g_r)): with SGD it equals ``_after``, with
Adam it does not (Adam's first step is about lr * sign of the gradient, which is not orthogonal
to g_r even when the gradient is).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unlearnbench.request import UnlearningOutcome, UnlearningRequest
from unlearnbench.timing import Stopwatch
from unlearnbench.unlearning.gradient_steps import (
    assign_flat_gradient,
    flat_gradient,
    flat_parameters,
    forget_batches,
    mean_gradient,
    optimiser_for,
    project_onto_normal_plane,
    retain_batch,
)
from unlearnbench.unlearning.normalisation import frozen_normalisation


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine of two flat vectors; 0 when either is zero (a zero step is orthogonal to everything)."""
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def _ascend(model: nn.Module, request: UnlearningRequest, *, surgery: bool) -> UnlearningOutcome:
    hp: dict[str, Any] = dict(request.hyperparameters)
    device = str(request.device)
    epochs = int(hp.get("epochs", 1))
    forget_batch_size = hp.get("forget_batch_size")
    retain_size = hp.get("retain_batch_size")
    mode = hp.get("projection", "always")
    if mode not in ("always", "conflicting"):
        raise ValueError(f"projection must be 'always' or 'conflicting', got {mode!r}")
    direction = hp.get("direction", "ascend")
    if direction not in ("ascend", "descend"):
        raise ValueError(f"direction must be 'ascend' or 'descend', got {direction!r}")
    if retain_size is not None and retain_size != "all" and not (isinstance(retain_size, int) and retain_size > 0):
        raise ValueError(f"retain_batch_size must be a positive integer, 'all' or null, got {retain_size!r}")
    # The optimiser descends what it is handed: -grad L_f ascends the forget loss.
    sign = -1.0 if direction == "ascend" else 1.0
    model.to(device).train()
    optimiser = optimiser_for(model, hp)
    cosines_before, cosines_after, cosines_step, steps = [], [], [], 0
    with Stopwatch(device) as watch, frozen_normalisation(model) as frozen:
        for _ in range(epochs):
            for batch in forget_batches(request.forget, forget_batch_size, request.generator, device):
                # Ascent: the update direction is +grad L_f, so hand the optimiser -grad L_f.
                g_f = sign * flat_gradient(model, request.loss_fn, batch)
                if surgery:
                    if retain_size == "all":
                        g_r = mean_gradient(model, request.loss_fn, request.retain, device)
                    else:
                        size = retain_size or int(batch[0].shape[0])
                        g_r = flat_gradient(
                            model, request.loss_fn, retain_batch(request.retain, size, request.generator, device)
                        )
                    cosines_before.append(_cosine(g_f, g_r))
                    g_f = project_onto_normal_plane(g_f, g_r, only_if_conflicting=(mode == "conflicting"))
                    cosines_after.append(_cosine(g_f, g_r))
                    before = flat_parameters(model)
                optimiser.zero_grad(set_to_none=True)
                assign_flat_gradient(model, g_f)
                optimiser.step()
                if surgery:
                    # the step actually taken, in the sign convention of the gradients: -delta theta
                    cosines_step.append(_cosine(before - flat_parameters(model), g_r))
                steps += 1
    model.eval()
    diagnostics: dict[str, Any] = {
        "steps": steps,
        "normalisation_layers_frozen": len(frozen),
        "direction": direction,
    }
    if surgery:
        diagnostics.update(
            cosine_forget_retain_before=cosines_before,
            cosine_forget_retain_after=cosines_after,
            cosine_step_retain=cosines_step,
        )
    return UnlearningOutcome(model=model, seconds=watch.seconds, diagnostics=diagnostics)


def gradient_ascent(model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome:
    """Ascend the forget loss (paper 1, objective 1), with no projection."""
    return _ascend(model, request, surgery=False)


def gradient_surgery(model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome:
    """Ascend the forget gradient projected onto the normal plane of the retain gradient."""
    return _ascend(model, request, surgery=True)


METHODS = {"gradient-ascent": gradient_ascent, "gradient-surgery": gradient_surgery}
