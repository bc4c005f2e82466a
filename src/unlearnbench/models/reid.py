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
256x128, optional random horizontal flips).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

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


@dataclass
class ReidRecipe:
    epochs: int = 60
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 5e-4
    step_size: int = 20
    gamma: float = 0.1
    flip: bool = True

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> ReidRecipe:
        optimizer = block.get("optimizer") or {}
        if optimizer and optimizer.get("name", "adam") != "adam":
            raise ValueError(f"the re-ID recipe uses Adam; got optimizer {optimizer.get('name')!r}")
        return cls(
            epochs=int(block.get("epochs", cls.epochs)),
            batch_size=int(block.get("batch_size", cls.batch_size)),
            lr=float(optimizer.get("lr", cls.lr)),
            weight_decay=float(optimizer.get("weight_decay", cls.weight_decay)),
            step_size=int(block.get("step_size", cls.step_size)),
            gamma=float(block.get("gamma", cls.gamma)),
            flip=bool(block.get("flip", cls.flip)),
        )


def train_reid(
    model: nn.Module,
    loss_fn: Any,
    dataset: Dataset,
    recipe: ReidRecipe,
    *,
    seed: int,
    device: str = "cpu",
    callbacks: Sequence[Any] = (),
) -> list[float]:
    """Adam + StepLR, random horizontal flips, last short batch dropped; mean loss per epoch.

    ``callbacks`` follow :class:`unlearnbench.training.TrainingCallback` (gradient bank).
    """
    from unlearnbench.training import seed_everything, to_device

    generator = seed_everything(seed)
    flips = torch.Generator().manual_seed(seed + 1)
    model.to(device)
    # drop_last as torchreid's training loader: a final batch of one image breaks batch norm.
    loader = DataLoader(
        dataset,
        batch_size=recipe.batch_size,
        shuffle=True,
        generator=generator,
        drop_last=len(dataset) > recipe.batch_size,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=recipe.step_size, gamma=recipe.gamma)
    history = []
    for epoch in range(recipe.epochs):
        model.train()
        total, count = 0.0, 0
        for batch in loader:
            images, pids = to_device(batch, device)
            if recipe.flip:
                flip = torch.rand(images.shape[0], generator=flips) < 0.5
                images = torch.where(flip.to(device).view(-1, 1, 1, 1), images.flip(-1), images)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model, (images, pids))
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * int(images.shape[0])
            count += int(images.shape[0])
        scheduler.step()
        history.append(total / max(count, 1))
        for callback in callbacks:
            callback.on_epoch_end(epoch, model, loader)
    model.eval()
    for callback in callbacks:
        callback.on_train_end(model, loader)
    return history
