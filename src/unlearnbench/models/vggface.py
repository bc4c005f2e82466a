"""VGGFace (Parkhi et al., BMVC 2015): VGG-16 for face identification, 2622 identities.

The L-CODEC paper (Sec. 7.3, appendix B.2.7) scrubs identities from the released VGGFace
model, "downloaded from https://www.robots.ox.ac.uk/~vgg/data/vgg_face/ and converted to
PyTorch via https://github.com/prlz77/vgg-face.pytorch". :class:`VGGFace` is that network:
thirteen 3x3 convolutions in five blocks (64, 128, 256, 512, 512 channels, a 2x2 max-pool
after each), then ``fc6`` (25088 -> 4096), ``fc7`` (4096 -> 4096) and ``fc8`` (4096 -> 2622),
ReLU and dropout 0.5 after ``fc6`` and ``fc7``. Its modules are named as in the widely
used conversion ``vgg_face_dag.pth`` (Albanie's pytorch-mcn: ``conv1_1`` ... ``conv5_3``,
``fc6``, ``fc7``, ``fc8``), so that file loads as is; a state dict saved from prlz77's
``VGG_16`` (``conv_1_1`` ... ``fc8``) loads too (see :func:`load_vggface_weights`).

Inputs are RGB images in [0, 1]; the model scales them to 0..255 and subtracts the
training mean (129.1863, 104.7624, 93.5940), the preprocessing of both conversions
(``bgr=True`` reverses the channels first, for weights that expect BGR input). Weights
never come from the network: the file is given in the config, checked against an md5 when
one is configured, and its absence is a clear error.

``width``, ``fc_width`` and ``image_size`` shrink the same architecture for the quick
profile's stand-in (e.g. width 8 on 64x64 images); the defaults are the original.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from unlearnbench.data.download import md5sum

VGGFACE_IDENTITIES = 2622
#: Per-channel RGB mean of the VGGFace training images (both conversions use it; std is 1).
VGGFACE_MEAN_RGB = (129.186279296875, 104.76238250732422, 93.59396362304688)
#: Where the original release and the conversions live (documentation; nothing is downloaded).
WEIGHT_SOURCES = {
    "original": "https://www.robots.ox.ac.uk/~vgg/data/vgg_face/ (vgg_face_torch.tar.gz: VGG_FACE.t7, names.txt)",
    "prlz77": "https://github.com/prlz77/vgg-face.pytorch (loads VGG_FACE.t7 into a PyTorch VGG_16; the paper's route)",
    "vgg_face_dag": "https://www.robots.ox.ac.uk/~albanie/models/pytorch-mcn/vgg_face_dag.pth (state dict, same layers)",
}
_BLOCKS = (2, 2, 3, 3, 3)  # convolutions per block
_MULTIPLIERS = (1, 2, 4, 8, 8)  # block widths in units of ``width``


class VGGFaceWeightsError(ValueError):
    """The configured weight file is absent, has the wrong md5, or does not fit the architecture."""


class VGGFace(nn.Module):
    """VGG-16 face identifier with vgg_face_dag's layer names (see the module docstring)."""

    def __init__(
        self,
        n_classes: int = VGGFACE_IDENTITIES,
        width: int = 64,
        fc_width: int = 4096,
        image_size: int = 224,
        dropout: float = 0.5,
        bgr: bool = False,
    ) -> None:
        super().__init__()
        for key, value in {
            "n_classes": n_classes,
            "width": width,
            "fc_width": fc_width,
            "image_size": image_size,
        }.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"VGGFace: {key} must be a positive integer, got {value!r}")
        if image_size % 32:
            raise ValueError(
                f"VGGFace: image_size must be a multiple of 32 (five 2x2 pools), got {image_size}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"VGGFace: dropout must lie in [0, 1), got {dropout}")
        self.image_size, self.bgr = image_size, bool(bgr)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = 3
        for block, (count, multiplier) in enumerate(zip(_BLOCKS, _MULTIPLIERS), start=1):
            for index in range(1, count + 1):
                layers[f"conv{block}_{index}"] = nn.Conv2d(
                    channels, width * multiplier, kernel_size=3, padding=1
                )
                layers[f"relu{block}_{index}"] = nn.ReLU(inplace=True)
                channels = width * multiplier
            layers[f"pool{block}"] = nn.MaxPool2d(kernel_size=2, stride=2)
        # Registered one by one (no Sequential) so parameter names are exactly "conv1_1.weight" etc.
        for name, module in layers.items():
            self.add_module(name, module)
        self._feature_names = list(layers)
        side = image_size // 32
        self.fc6 = nn.Linear(channels * side * side, fc_width)
        self.relu6 = nn.ReLU(inplace=True)
        self.dropout6 = nn.Dropout(dropout)
        self.fc7 = nn.Linear(fc_width, fc_width)
        self.relu7 = nn.ReLU(inplace=True)
        self.dropout7 = nn.Dropout(dropout)
        self.fc8 = nn.Linear(fc_width, n_classes)
        # Not persistent: the state dict keeps exactly the keys of vgg_face_dag.pth.
        self.register_buffer("mean", torch.tensor(VGGFACE_MEAN_RGB).view(1, 3, 1, 1), persistent=False)
        self._initialise()

    def _initialise(self) -> None:
        """torchvision's VGG initialisation, so that a network without released weights trains from scratch.

        (PyTorch's default initialisation shrinks the signal through 13 convolutions without
        batch norm; loaded weights replace all of this anyway.)
        """
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The fc7 descriptor (4096-d in the original), the face embedding of VGGFace."""
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != (self.image_size, self.image_size):
            raise ValueError(
                f"VGGFace expects RGB images [N, 3, {self.image_size}, {self.image_size}] in [0, 1], got {tuple(x.shape)}"
            )
        if self.bgr:
            x = x.flip(1)
        mean = self.mean.flip(1) if self.bgr else self.mean
        x = x * 255.0 - mean
        for name in self._feature_names:
            x = getattr(self, name)(x)
        x = torch.flatten(x, 1)
        x = self.dropout6(self.relu6(self.fc6(x)))
        return self.dropout7(self.relu7(self.fc7(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc8(self.embed(x))


MODELS = {"vggface": VGGFace}


def _prlz77_key(key: str) -> str:
    """prlz77's ``conv_1_1.weight`` -> ``conv1_1.weight``; fc keys are already the same."""
    if key.startswith("conv_"):
        block, index_and_rest = key[len("conv_") :].split("_", 1)
        return f"conv{block}_{index_and_rest}"
    return key


def load_vggface_weights(
    model: VGGFace, path: str | Path, md5: str | None = None, *, new_head: bool = False
) -> dict[str, Any]:
    """Load a converted VGGFace state dict into ``model``; return what was loaded (for provenance).

    ``md5``, when given, must match the file (a corrupt or different conversion is refused).
    With ``new_head`` the file's ``fc8`` is not loaded (the model keeps its own, freshly
    initialised classifier, e.g. for identities other than the 2622 of VGGFace).
    Raises :class:`VGGFaceWeightsError` naming the file, the sources and the mismatch.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        sources = "; ".join(f"{k}: {v}" for k, v in WEIGHT_SOURCES.items())
        raise VGGFaceWeightsError(
            f"the VGGFace weight file {path} does not exist. Put a converted state dict there "
            f"(e.g. vgg_face_dag.pth) and set its path (and md5) in the experiment's `weights`. Sources: {sources}"
        )
    actual = md5sum(path)
    if md5 is not None and actual != md5.lower():
        raise VGGFaceWeightsError(f"{path} has md5 {actual}, but the config pins {md5.lower()}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip or weights_only errors all mean: not a plain state dict
        raise VGGFaceWeightsError(
            f"{path} is not a PyTorch state dict loadable with weights_only=True ({exc})"
        ) from exc
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise VGGFaceWeightsError(f"{path} holds a {type(state).__name__}, not a state dict")
    state = {_prlz77_key(str(k)): v for k, v in state.items()}
    expected = model.state_dict()
    if new_head:
        state = {k: v for k, v in state.items() if not k.startswith("fc8.")}
        expected = {k: v for k, v in expected.items() if not k.startswith("fc8.")}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or shapes:
        raise VGGFaceWeightsError(
            f"{path} does not fit VGGFace(n_classes={model.fc8.out_features}, width={model.conv1_1.out_channels}, "
            f"image_size={model.image_size}): missing {missing[:5]}, unexpected {unexpected[:5]}, shapes {shapes[:3]}"
        )
    model.load_state_dict(state, strict=not new_head)
    return {
        "path": str(path.resolve()),
        "md5": actual,
        "bytes": path.stat().st_size,
        "new_head": bool(new_head),
    }
