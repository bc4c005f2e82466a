"""Activation maps of a re-ID network (L-CODEC Fig. 8/12), as torchreid visualises them.

torchreid's ``visualize_actmap`` takes the last convolutional feature map ``f [C, h, w]``
of an image, reduces it to ``sum_c f_c^2`` (here the mean over channels, the same map up
to a constant), upsamples it bilinearly to the image size and min-max normalises it for
display. :func:`activation_maps` returns the upsampled maps *before* normalisation, so
that a change of magnitude after unlearning stays measurable (:func:`map_change`);
:func:`normalise_map` and :func:`overlay` are the display steps the figure applies.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def activation_maps(model: nn.Module, images: torch.Tensor, layer: str, *, device: str = "cpu") -> np.ndarray:
    """``[N, H, W]`` mean squared activation of ``layer`` (a module name), upsampled to the images."""
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"the model has no module {layer!r}")
    captured: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs: object, output: object) -> None:
        out = output[0] if isinstance(output, (tuple, list)) else output
        captured.append(out.detach())

    handle = modules[layer].register_forward_hook(hook)
    was_training = model.training
    model.eval()
    try:
        model(images.to(device))
    finally:
        handle.remove()
        model.train(was_training)
    if not captured or captured[-1].ndim != 4:
        raise ValueError(f"module {layer!r} does not output a [N, C, h, w] feature map")
    maps = captured[-1].pow(2).mean(dim=1, keepdim=True)
    maps = F.interpolate(maps, size=tuple(images.shape[-2:]), mode="bilinear", align_corners=False)
    return maps[:, 0].cpu().numpy().astype(np.float32)


def normalise_map(activation: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] per map (a constant map becomes zeros)."""
    a = np.asarray(activation, dtype=np.float64)
    low, high = a.min(axis=(-2, -1), keepdims=True), a.max(axis=(-2, -1), keepdims=True)
    span = np.where(high > low, high - low, 1.0)
    return ((a - low) / span).astype(np.float32)


def overlay(image: np.ndarray, activation: np.ndarray, *, alpha: float = 0.4) -> np.ndarray:
    """Blend an ``[H, W, 3]`` image in [0, 1] with the jet-coloured normalised map."""
    from matplotlib import colormaps

    heat = colormaps["jet"](normalise_map(activation))[..., :3]
    return np.clip((1 - alpha) * np.asarray(image, dtype=np.float64) + alpha * heat, 0.0, 1.0)


def map_change(before: np.ndarray, after: np.ndarray) -> dict[str, float]:
    """How much a map changed: ``1 - cosine`` of the two maps and relative L2 change."""
    a = np.asarray(before, dtype=np.float64).ravel()
    b = np.asarray(after, dtype=np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cosine = float(a @ b / (na * nb)) if na > 0 and nb > 0 else float(na == nb)
    relative = float(np.linalg.norm(a - b) / na) if na > 0 else float(nb > 0)
    # clip: round-off can put the cosine of identical maps a hair above 1
    return {"cosine_distance": max(0.0, 1.0 - cosine), "relative_l2": relative}
