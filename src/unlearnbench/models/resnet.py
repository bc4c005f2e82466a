"""ResNet-18 evaluation classifier (gradient-surgery paper A.2: "ResNet18 to classify male over female").

With ``width=64`` and 3 input channels this is exactly ``torchvision.models.resnet18``
(``weights=None``: trained from scratch, as the paper gives no pretraining). ``width``
scales the base width (64, 128, 256, 512 -> w, 2w, 4w, 8w) with torchvision's own
``BasicBlock`` and the same 2-2-2-2 layout, so the quick profile can train a ResNet-18 of
the same depth on a CPU; ``in_channels`` other than 3 replaces the stem convolution.

The classifier exposes ``embed(x)`` (the pooled penultimate features) and ``head`` (the
final linear layer), which is what :func:`unlearnbench.metrics.generative.classify` needs
for fratio, IS (softmax) and the domain-classifier FID (features).
"""

from __future__ import annotations

import torch
from torch import nn

TORCHVISION_WIDTH = 64
BLOCKS_PER_STAGE = (2, 2, 2, 2)


class ResNet18Classifier(nn.Module):
    def __init__(self, in_channels: int = 3, n_classes: int = 2, width: int = TORCHVISION_WIDTH) -> None:
        super().__init__()
        if in_channels < 1 or n_classes < 2 or width < 1:
            raise ValueError(
                f"ResNet-18 needs in_channels >= 1, n_classes >= 2 and width >= 1; got {in_channels}, {n_classes}, {width}"
            )
        # torchvision.models is heavy to import: only when a model is built.
        from torchvision.models import resnet18

        net = resnet18(weights=None, num_classes=n_classes)
        if width != TORCHVISION_WIDTH:
            _rescale(net, width)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.head = net.fc
        net.fc = nn.Identity()  # torchvision's forward now ends with the pooled, flattened features
        self.body = net
        self.width = width

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate (globally pooled) features, ``8 * width`` per image."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def _rescale(net: nn.Module, width: int) -> None:
    """Replace the stem, the four stages and the head of a torchvision ResNet-18 by ``width``-based ones."""
    from torchvision.models.resnet import BasicBlock

    net.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(width)
    inplanes = width
    for index, blocks in enumerate(BLOCKS_PER_STAGE):
        planes, stride = width * 2**index, (1 if index == 0 else 2)
        downsample = None
        if stride != 1 or inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )
        stage = [BasicBlock(inplanes, planes, stride, downsample)]
        stage += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
        setattr(net, f"layer{index + 1}", nn.Sequential(*stage))
        inplanes = planes
    net.fc = nn.Linear(inplanes, net.fc.out_features)
    # torchvision's initialisation for the replaced modules
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


MODELS = {"resnet18": ResNet18Classifier}
