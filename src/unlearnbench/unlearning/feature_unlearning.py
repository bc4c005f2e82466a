"""``feature-unlearning``: Moon et al. (2023), "Feature unlearning for generative models via implicit feedback".

The baseline (FU) of the gradient-surgery paper's Table 1. No public code exists; this is a
reimplementation from the paper's description, and every choice it leaves open is listed
below (all configurable through the hyperparameters).

Algorithm (decoder-side, no training data needed):
1. *Implicit feedback.* Draw ``n_feedback`` latents z ~ N(0, I), decode them with the
   pretrained model, and ask ``request.feedback`` which images carry the target feature.
   In the paper a user marks them; here the experiment's evaluation classifier plays the
   user (the images it assigns to the forget class) — see :class:`FeedbackRequest`. That
   judge is the same classifier that measures fratio afterwards, which favours the method.
2. *Feature direction.* z_e = mean(z | feature) - mean(z | no feature), normalised to unit
   length, so ``proj(z) = z . z_e`` is a signed distance along the feature direction.
3. *Threshold.* A latent carries the feature when proj(z) > t. ``threshold`` chooses t:
   ``negative-mean`` (default) the mean projection of the feedback latents *without* the
   feature, ``midpoint`` halfway between the two groups' mean projections,
   ``positive-mean``, or a number. With ``negative-mean`` a translated latent lands where a
   typical feature-free latent lies; ``midpoint`` would leave it on the decision boundary.
4. *Translation.* z' = z - max(proj(z) - t, 0) z_e: the projection above t is removed, a
   latent below t is left untouched (Moon et al.'s z - (proj(z) - t) z_e, applied only to
   feature latents).
5. *Fine-tuning.* A frozen copy f of the pretrained decoder provides targets; the decoder g
   is trained with
   L = mean_{z: no feature} |g(z) - f(z)|_1 + alpha * mean_{z: feature} (|g(z) - f(z')|_1 + w (1 - SSIM(g(z), f(z')))),
   where |.|_1 is the mean absolute pixel error (a per-pixel mean, so that the L1 and the
   SSIM terms have comparable scale) and the perceptual term is SSIM (Moon et al. use a
   perceptual loss; SSIM is a standard choice that needs no pretrained network).

Choices the papers leave open:
- *Epoch*: one pass over ``latents_per_epoch`` fresh latents (default ``n_feedback``) in
  batches of ``batch_size``; ``epochs`` of them (the gradient-surgery paper: 200 for MNIST).
- *Optimiser*: a fresh Adam with ``lr`` on the decoder parameters only; the gradient-surgery
  paper keeps the same step size for all methods (5e-4 MNIST, 1e-5 CelebA).
- *Which parameters*: those the decoder uses, found as the parameters ``model.decode``
  depends on (autograd), so the method works for any VAE with ``decode`` and ``latent_dim``;
  the encoder is untouched. The decoder runs in evaluation mode while it is fine-tuned, inside
  :func:`~unlearnbench.unlearning.normalisation.frozen_normalisation` like every
  gradient-based method, so batch-norm statistics stay those of pretraining (their affine
  weights are trained).
- *Degenerate feedback*: if the feedback finds no image with (or none without) the
  feature, z_e is undefined; the method then leaves the model unchanged and says so in its
  diagnostics instead of failing the run.

Interface: the feedback reaches the method through :class:`FeedbackRequest`, a subclass of
:class:`UnlearningRequest` with one extra field (``feedback``), so the method interface
stays generic and every other method accepts the same request. Hyperparameters (defaults):
``lr`` (5e-4), ``epochs`` (200), ``n_feedback`` (1000), ``latents_per_epoch``
(``n_feedback``), ``batch_size`` (64), ``alpha`` (1), ``perceptual_weight`` (1),
``threshold`` (``negative-mean``), ``optimizer`` (``adam`` only). The time reported
includes collecting the feedback.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from unlearnbench.metrics.ssim import ssim
from unlearnbench.request import UnlearningOutcome, UnlearningRequest
from unlearnbench.timing import Stopwatch
from unlearnbench.unlearning.normalisation import frozen_normalisation

Feedback = Callable[[torch.Tensor], torch.Tensor]
THRESHOLDS = ("negative-mean", "midpoint", "positive-mean")


@dataclass
class FeedbackRequest(UnlearningRequest):
    """An :class:`UnlearningRequest` with implicit feedback on generated samples.

    ``feedback(images) -> bool tensor [N]`` says which generated images carry the feature
    to forget. Methods that do not need it ignore it, so an experiment may hand the same
    request to every method. Left ``None``, methods that need it raise a ``ValueError``.
    """

    feedback: Feedback | None = None


def feature_direction(z: torch.Tensor, has_feature: torch.Tensor) -> torch.Tensor:
    """Unit vector z_e from the mean latent without the feature to the mean latent with it."""
    has_feature = has_feature.to(torch.bool)
    if has_feature.all() or not has_feature.any():
        raise ValueError(
            "the feedback must mark some latents with and some without the feature to define z_e"
        )
    direction = z[has_feature].mean(0) - z[~has_feature].mean(0)
    norm = direction.norm()
    if norm == 0:
        raise ValueError("the mean latents with and without the feature coincide: z_e is undefined")
    return direction / norm


def choose_threshold(projections: torch.Tensor, has_feature: torch.Tensor, rule: str | float) -> float:
    """t from the feedback latents' projections on z_e (see the module docstring)."""
    if isinstance(rule, (int, float)) and not isinstance(rule, bool):
        return float(rule)
    has_feature = has_feature.to(torch.bool)
    positive, negative = projections[has_feature].mean(), projections[~has_feature].mean()
    if rule == "negative-mean":
        return float(negative)
    if rule == "midpoint":
        return float((positive + negative) / 2)
    if rule == "positive-mean":
        return float(positive)
    raise ValueError(f"threshold must be a number or one of {', '.join(THRESHOLDS)}; got {rule!r}")


def translate(
    z: torch.Tensor, direction: torch.Tensor, threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """z' = z - max(z . z_e - t, 0) z_e for unit ``direction`` z_e; also the mask proj(z) > t."""
    projection = z @ direction
    excess = (projection - threshold).clamp_min(0.0)
    return z - excess[:, None] * direction[None, :], projection > threshold


def decoder_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable parameters ``model.decode`` depends on (found with one autograd pass)."""
    params = [p for p in model.parameters() if p.requires_grad]
    was_training = model.training
    model.eval()
    probe = torch.zeros(2, model.latent_dim, device=next(model.parameters()).device)
    out = model.decode(probe)
    grads = torch.autograd.grad(out.sum(), params, allow_unused=True)
    model.train(was_training)
    used = [p for p, g in zip(params, grads) if g is not None]
    if not used:
        raise ValueError("model.decode depends on no trainable parameter: nothing to fine-tune")
    return used


def feature_loss(
    g: nn.Module,
    f: nn.Module,
    z: torch.Tensor,
    direction: torch.Tensor,
    threshold: float,
    *,
    alpha: float,
    perceptual_weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """L = L_recon(non-feature latents) + alpha * (L1 + w (1 - SSIM))(feature latents, translated targets)."""
    with torch.no_grad():
        z_translated, carries = translate(z, direction, threshold)
        target = f.decode(torch.where(carries[:, None], z_translated, z))
    generated = g.decode(z)
    loss = generated.new_zeros(())
    parts = {"n_feature": float(carries.sum())}
    keep = ~carries
    if keep.any():
        recon = (generated[keep] - target[keep]).abs().flatten(1).mean(1).mean()
        loss = loss + recon
        parts["reconstruction"] = float(recon.detach())
    if carries.any():
        l1 = (generated[carries] - target[carries]).abs().flatten(1).mean(1).mean()
        perceptual = 1.0 - ssim(generated[carries], target[carries])
        loss = loss + alpha * (l1 + perceptual_weight * perceptual)
        parts.update(unlearning=float(l1.detach()), perceptual=float(perceptual.detach()))
    return loss, parts


@torch.no_grad()
def collect_feedback(
    model: nn.Module, feedback: Feedback, n: int, batch_size: int, generator: torch.Generator, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` latents from N(0, I) and the feedback on their decoded images."""
    z = torch.randn(n, model.latent_dim, generator=generator).to(device)
    marks = [
        torch.as_tensor(feedback(model.decode(z[i : i + batch_size]))).to(torch.bool).cpu()
        for i in range(0, n, batch_size)
    ]
    return z, torch.cat(marks).to(device)


def _positive(hp: dict[str, Any], key: str, default: Any, cast: type = int) -> Any:
    value = cast(hp.get(key, default))
    if value <= 0:
        raise ValueError(f"feature-unlearning: {key} must be positive, got {value}")
    return value


def feature_unlearning(model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome:
    """Fine-tune the decoder so latents carrying the feature decode like their translated latents."""
    feedback = getattr(request, "feedback", None)
    if feedback is None:
        raise ValueError(
            "feature-unlearning needs implicit feedback on generated images: pass a FeedbackRequest with "
            "feedback(images) -> bool per image (the experiment uses its evaluation classifier)"
        )
    hp: dict[str, Any] = dict(request.hyperparameters)
    device = str(request.device)
    n_feedback = _positive(hp, "n_feedback", 1000)
    per_epoch = _positive(hp, "latents_per_epoch", n_feedback)
    batch_size = _positive(hp, "batch_size", 64)
    epochs = int(hp.get("epochs", 200))
    alpha = _positive(hp, "alpha", 1.0, float)
    perceptual_weight = float(hp.get("perceptual_weight", 1.0))
    rule = hp.get("threshold", "negative-mean")
    lr = _positive(hp, "lr", 5e-4, float)
    if hp.get("optimizer", "adam") != "adam":
        raise ValueError(
            f"feature-unlearning fine-tunes with Adam; optimizer {hp.get('optimizer')!r} is not supported"
        )
    if epochs < 0:
        raise ValueError(f"feature-unlearning: epochs must be >= 0, got {epochs}")

    model.to(device).eval()
    with Stopwatch(device) as watch, frozen_normalisation(model):
        z, marks = collect_feedback(model, feedback, n_feedback, batch_size, request.generator, device)
        diagnostics: dict[str, Any] = {"n_feedback": n_feedback, "feedback_positive": int(marks.sum())}
        if not (marks.all() or not marks.any()):
            diagnostics.update(
                _fine_tune(
                    model,
                    z,
                    marks,
                    rule,
                    epochs=epochs,
                    per_epoch=per_epoch,
                    batch_size=batch_size,
                    alpha=alpha,
                    perceptual_weight=perceptual_weight,
                    lr=lr,
                    generator=request.generator,
                    device=device,
                )
            )
        else:
            diagnostics["skipped"] = (
                "feedback marked all or none of the samples: z_e undefined, model unchanged"
            )
    model.eval()
    return UnlearningOutcome(model=model, seconds=watch.seconds, diagnostics=diagnostics)


def _fine_tune(
    model: nn.Module,
    z: torch.Tensor,
    marks: torch.Tensor,
    rule: str | float,
    *,
    epochs: int,
    per_epoch: int,
    batch_size: int,
    alpha: float,
    perceptual_weight: float,
    lr: float,
    generator: torch.Generator,
    device: str,
) -> dict[str, Any]:
    """Steps 2-5 of the module docstring; returns the diagnostics."""
    direction = feature_direction(z, marks)
    projections = z @ direction
    threshold = choose_threshold(projections, marks, rule)
    frozen = copy.deepcopy(model).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    params = decoder_parameters(model)
    optimiser = torch.optim.Adam(params, lr=lr)
    history: list[float] = []
    translated_share = float((projections > threshold).double().mean())
    for _ in range(epochs):
        latents = torch.randn(per_epoch, model.latent_dim, generator=generator).to(device)
        total = 0.0
        for start in range(0, per_epoch, batch_size):
            loss, _ = feature_loss(
                model,
                frozen,
                latents[start : start + batch_size],
                direction,
                threshold,
                alpha=alpha,
                perceptual_weight=perceptual_weight,
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * min(batch_size, per_epoch - start)
        history.append(total / per_epoch)
    return {
        "threshold": threshold,
        "threshold_rule": rule,
        "feedback_projection_mean": {
            "feature": float(projections[marks].mean()),
            "no_feature": float(projections[~marks].mean()),
        },
        "share_of_feedback_latents_translated": translated_share,
        "epochs": epochs,
        "loss_history": _thin(history),
        "n_decoder_parameters": sum(p.numel() for p in params),
    }


def _thin(values: Sequence[float], keep: int = 50) -> list[float]:
    """At most ``keep`` evenly spaced entries (run JSONs stay small for 200 epochs)."""
    if len(values) <= keep:
        return list(values)
    step = len(values) / keep
    return [values[int(i * step)] for i in range(keep)] + [values[-1]]


METHODS = {"feature-unlearning": feature_unlearning}
