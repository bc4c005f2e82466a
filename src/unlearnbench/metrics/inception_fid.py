"""Standard Inception FID features (pytorch-fid's InceptionV3, 2048-d pool features), from a local weights file.

The CelebA column of the gradient-surgery paper reports FID around 30, the scale of the
usual Inception FID (unlike its MNIST column, see :mod:`unlearnbench.metrics.generative`).
We use pytorch-fid's network, the TensorFlow FID Inception ported to PyTorch, so the
numbers are comparable with the common FID implementations.

pytorch-fid downloads its weights on first use; this suite never downloads at run or test
time, so the weights come from a path in the config (``evaluation.inception_weights``).
The file is ``pt_inception-2015-12-05-6726825d.pth`` from pytorch-fid's release page
(:data:`WEIGHTS_URL`); its SHA-256 starts with ``6726825d`` (torch hub's naming
convention), which is checked before the weights are used. The network is built by
pytorch-fid itself with its weight loader pointed at that file.

Images are expected in [0, 1]; pytorch-fid resizes them bilinearly to 299x299 and scales
them to [-1, 1]. Grayscale images are repeated over three channels.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from torch import nn

WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_FILENAME}"
WEIGHTS_SHA256_PREFIX = "6726825d"
FEATURE_DIM = 2048


class InceptionWeightsError(FileNotFoundError):
    """The Inception weights file is absent or is not pytorch-fid's FID Inception file."""


def sha256sum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_weights_file(weights_path: str | Path, *, verify: bool = True) -> Path:
    """The weights file, or :class:`InceptionWeightsError` naming the expected file and where to get it."""
    path = Path(weights_path).expanduser()
    if not path.is_file():
        raise InceptionWeightsError(
            f"Inception weights for FID not found at {path}. Download {WEIGHTS_URL} (pytorch-fid's FID Inception "
            f"weights, {WEIGHTS_FILENAME}) and put it there, or point evaluation.inception_weights in the config "
            "at your copy. Nothing is downloaded automatically."
        )
    if verify and not sha256sum(path).startswith(WEIGHTS_SHA256_PREFIX):
        raise InceptionWeightsError(
            f"{path} is not pytorch-fid's FID Inception weights: its SHA-256 does not start with "
            f"{WEIGHTS_SHA256_PREFIX}. Download {WEIGHTS_URL} again."
        )
    return path


def load_inception(weights_path: str | Path, device: str = "cpu", *, verify: bool = True) -> nn.Module:
    """pytorch-fid's ``InceptionV3`` (pool3 block) with the weights of ``weights_path``, in eval mode.

    ``verify=False`` skips the SHA-256 check (tests use a randomly initialised file).
    """
    path = check_weights_file(weights_path, verify=verify)
    from pytorch_fid import inception as fid_inception

    state = torch.load(path, map_location="cpu", weights_only=True)
    # pytorch-fid builds the FID variant of the network and then fetches its weights by URL;
    # pointing that fetch at the local file keeps pytorch-fid's exact architecture and never downloads.
    with mock.patch.object(fid_inception, "load_state_dict_from_url", lambda *args, **kwargs: state):
        model = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])
    return model.eval().to(device)


@torch.no_grad()
def inception_features(
    model: nn.Module, images: torch.Tensor, *, batch_size: int = 200, device: str = "cpu"
) -> np.ndarray:
    """[N, 2048] pool features of images in [0, 1] (``[N, C, H, W]``, C = 1 or 3)."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"inception_features needs [N, 1 or 3, H, W] images, got {tuple(images.shape)}")
    model.eval().to(device)
    out = []
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device, dtype=torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        out.append(model(x)[0].flatten(1).cpu())
    return torch.cat(out).numpy().astype(np.float64)
