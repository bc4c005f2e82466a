"""Person re-identification networks from torchreid (L-CODEC Fig. 8/12).

:class:`ReidNet` wraps a model built by ``torchreid.reid.models.build_model`` (ResNet-50,
ResNet-50-fc512, MLFN, MobileNetV2, or any other name torchreid registers) with
``pretrained=False``: nothing is downloaded. torchreid's models return identity logits
in training mode and the embedding in eval mode; the wrapper always returns logits from
``forward`` (so the training loss, the Newton step and the gradient bank, which run in
eval mode, see the same function) and the embedding from ``embed`` (retrieval features).

The activation maps of Fig. 8/12 are read from the last convolutional stage, one module
per architecture (:data:`ACTIVATION_LAYERS`), through a forward hook.

Also here: the training recipe of the paper's appendix B.2.8 (Adam, lr 3e-4, step
schedule, softmax cross-entropy with torchreid's label smoothing 0.1, images resized to
256x128, optional random horizontal flips), trained by the suite's one loop
:func:`unlearnbench.training.fit`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnbench.training import OptimizerSpec, SchedulerSpec

MODEL_NAME = "torchreid"
#: Module whose output is the last convolutional feature map, per torchreid architecture.
ACTIVATION_LAYERS: dict[str, str] = {
    "resnet18": "backbone.layer4",
    "resnet34": "backbone.layer4",
    "resnet50": "backbone.layer4",
    "resnet50_fc512": "backbone.layer4",
    "mobilenetv2_x1_0": "backbone.conv9",
    "mobilenetv2_x1_4": "backbone.conv9",
    "mlfn": "backbone.feature.15",
}


def _build_torchreid(arch: str, num_classes: int) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torchreid.reid.models import build_model

        try:
            return build_model(arch, num_classes, loss="softmax", pretrained=False, use_gpu=False)
        except KeyError as exc:
            raise ValueError(f"torchreid has no model {arch!r}: {exc}") from None


class ReidNet(nn.Module):
    """A torchreid model whose ``forward`` always gives identity logits."""

    def __init__(self, arch: str, num_classes: int) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"a re-ID classifier needs at least 2 training identities, got {num_classes}")
        self.arch = arch
        self.backbone = _build_torchreid(arch, int(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.backbone(x)
        return out if self.backbone.training else self.backbone.classifier(out)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The retrieval embedding (torchreid's eval-mode output); needs eval mode."""
        if self.backbone.training:
            raise RuntimeError("ReidNet.embed needs eval mode (torchreid returns logits in training mode)")
        return self.backbone(x)


MODELS = {MODEL_NAME: ReidNet}


def activation_layer(model: ReidNet, override: str | None = None) -> str:
    """The qualified name of the module whose output the activation maps use."""
    name = override or ACTIVATION_LAYERS.get(model.arch)
    if name is None:
        raise ValueError(f"no default activation-map layer for {model.arch!r}; set evaluation.actmap_layer")
    if name not in dict(model.named_modules()):
        raise ValueError(f"{model.arch} has no module {name!r} for activation maps")
    return name


class ReidLoss:
    """``loss_fn(model, (images, pids))``: cross-entropy with label smoothing (torchreid's 0.1)."""

    def __init__(self, label_smoothing: float = 0.1) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def __call__(self, model: nn.Module, batch: Any) -> torch.Tensor:
        return F.cross_entropy(model(batch[0]), batch[1], label_smoothing=self.label_smoothing)


#: torchreid's optimiser (the recipe's ``optimizer`` block may set its ``lr`` and ``weight_decay``).
ADAM = OptimizerSpec("adam", 3e-4, weight_decay=5e-4)


@dataclass
class ReidRecipe:
    """The re-ID recipe as :func:`unlearnbench.training.fit` settings (keys of the ``training`` block).

    Adam, a step schedule stepped per epoch, random horizontal flips (:class:`RandomFlip`),
    and, as torchreid's training loader, the last short batch dropped (see :meth:`drop_last`).
    """

    epochs: int = 60
    batch_size: int = 32
    optimizer: OptimizerSpec = field(default_factory=lambda: replace(ADAM))
    scheduler: SchedulerSpec = field(default_factory=lambda: SchedulerSpec("step", step_size=20, gamma=0.1))
    flip: bool = True

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> ReidRecipe:
        return cls(
            epochs=int(block.get("epochs", cls.epochs)),
            batch_size=int(block.get("batch_size", cls.batch_size)),
            optimizer=ADAM.tuned(block.get("optimizer") or {}, "re-ID"),
            scheduler=SchedulerSpec(
                "step", step_size=int(block.get("step_size", 20)), gamma=float(block.get("gamma", 0.1))
            ),
            flip=bool(block.get("flip", cls.flip)),
        )

    def drop_last(self, n_train: int) -> bool:
        """Drop the last short batch unless it is the only one: a batch of one image breaks batch norm."""
        return n_train > self.batch_size

    def augment(self, seed: int) -> RandomFlip | None:
        """The recipe's augmentation, drawing from a generator of its own (``seed + 1``)."""
        return RandomFlip(seed + 1) if self.flip else None


class RandomFlip:
    """Flip each image of an ``(images, labels)`` batch horizontally with probability 1/2.

    A :class:`unlearnbench.training.BatchAugment`: its own generator, so the flips never
    change the data order or the dropout draws, and its state is resumed with the training.
    """

    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        flip = torch.rand(images.shape[0], generator=self.generator) < 0.5
        return torch.where(flip.to(images.device).view(-1, 1, 1, 1), images.flip(-1), images), labels

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
