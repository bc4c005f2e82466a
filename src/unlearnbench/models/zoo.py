"""The CIFAR-10 model zoo of the L-CODEC paper (Fig. 5 right, Fig. 11): torchvision models at 32x32.

The paper trained "Torch Hub" models on CIFAR-10; this zoo builds the same architectures
from torchvision's own classes, adapted to 32x32 inputs the usual way (a 3x3 stride-1
stem without the initial max-pool, so the last feature maps are 4x4 rather than 1x1):

=====================  ===============================================================
name                   architecture
=====================  ===============================================================
``cifar-resnet18``     ``torchvision.models.ResNet`` with ``BasicBlock`` [2, 2, 2, 2]
``cifar-resnet50``     ``torchvision.models.ResNet`` with ``Bottleneck`` [3, 4, 6, 3]
``cifar-densenet121``  ``torchvision.models.DenseNet`` (32, (6, 12, 24, 16), 64)
``cifar-mobilenetv2``  ``torchvision.models.MobileNetV2``, stem and stage 2 at stride 1
``cifar-vgg11-bn``     ``torchvision.models.VGG`` on ``make_layers(cfgs["A"], batch_norm)``,
                       global pooling and a 512-512 classifier (1x1 maps at 32x32)
``mlp``                :class:`unlearnbench.models.classifiers.MLP`, one hidden layer
=====================  ===============================================================

Weights are always random (``weights=None``): nothing is downloaded from a hub. Width
and depth options (``width``, ``layers``, ``growth_rate``, ``block_config``,
``width_mult``) exist so the quick profile runs the same classes and layer types, narrower,
on a CPU; their defaults are the paper architectures. The module declares
the names in ``MODELS`` (see :mod:`unlearnbench.plugins`); torchvision is imported only
when a model is built.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import nn

from unlearnbench.models import build_model

#: The zoo of Fig. 5 (right), in the order the figure lists them, with display labels.
ZOO: dict[str, str] = {
    "cifar-resnet18": "ResNet-18",
    "cifar-resnet50": "ResNet-50",
    "cifar-densenet121": "DenseNet-121",
    "cifar-mobilenetv2": "MobileNetV2",
    "cifar-vgg11-bn": "VGG-11-BN",
    "mlp": "MLP (2 layers)",
}


def _kaiming(conv: nn.Conv2d) -> nn.Conv2d:
    """The initialisation torchvision gives every convolution of these families."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def _check_positive(name: str, **values: int) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: {key} must be a positive integer, got {value!r}")


@functools.cache
def _scaled_resnet_class() -> type:
    """torchvision's ``ResNet`` whose stage widths are ``width * (1, 2, 4, 8)`` (64: the original).

    Built on first use (torchvision is imported lazily) and cached, so every model shares
    one class (``copy.deepcopy`` and ``isinstance`` behave as for any module class).
    """
    from torchvision.models.resnet import ResNet

    class ScaledResNet(ResNet):
        def __init__(self, block: type, layers: list[int], num_classes: int, width: int) -> None:
            self._width, self._stem_width_set = width, False  # read by _make_layer during super().__init__
            super().__init__(block, layers, num_classes=num_classes)

        def _make_layer(self, block, planes, blocks, stride=1, dilate=False):  # type: ignore[override]
            if not self._stem_width_set:  # the first stage starts from the stem's width, not 64
                self.inplanes, self._stem_width_set = self._width, True
            return super()._make_layer(block, planes * self._width // 64, blocks, stride, dilate)

    return ScaledResNet


def cifar_resnet(
    depth: int = 18, n_classes: int = 10, width: int = 64, layers: Sequence[int] | None = None
) -> nn.Module:
    """ResNet-18/50 (torchvision's class) with a 3x3 stride-1 stem and no max-pool.

    ``width`` is the stem and first-stage width (64 in the paper architecture; stages
    double it); ``layers`` overrides the blocks per stage.
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck

    blocks = {18: (BasicBlock, (2, 2, 2, 2)), 50: (Bottleneck, (3, 4, 6, 3))}
    if depth not in blocks:
        raise ValueError(f"cifar_resnet: depth must be 18 or 50, got {depth!r}")
    block, default_layers = blocks[depth]
    layers = tuple(default_layers if layers is None else layers)
    if len(layers) != 4:
        raise ValueError(f"cifar_resnet: layers must give 4 stage depths, got {list(layers)}")
    _check_positive(
        "cifar_resnet", width=width, n_classes=n_classes, **{f"layers[{i}]": v for i, v in enumerate(layers)}
    )

    model = _scaled_resnet_class()(block, list(layers), n_classes, width)
    model.conv1 = _kaiming(nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False))
    model.bn1 = nn.BatchNorm2d(width)
    model.maxpool = nn.Identity()
    model.fc = nn.Linear(8 * width * block.expansion, n_classes)
    return model


def cifar_resnet18(n_classes: int = 10, width: int = 64, layers: Sequence[int] | None = None) -> nn.Module:
    return cifar_resnet(18, n_classes, width, layers)


def cifar_resnet50(n_classes: int = 10, width: int = 64, layers: Sequence[int] | None = None) -> nn.Module:
    return cifar_resnet(50, n_classes, width, layers)


def cifar_densenet121(
    n_classes: int = 10,
    growth_rate: int = 32,
    block_config: Sequence[int] = (6, 12, 24, 16),
    num_init_features: int = 64,
    bn_size: int = 4,
) -> nn.Module:
    """DenseNet-121 (torchvision's class) with a 3x3 stride-1 stem and no initial max-pool."""
    from torchvision.models.densenet import DenseNet

    _check_positive(
        "cifar_densenet121", growth_rate=growth_rate, num_init_features=num_init_features, bn_size=bn_size
    )
    if len(block_config) != 4:
        raise ValueError(
            f"cifar_densenet121: block_config must give 4 block depths, got {list(block_config)}"
        )
    model = DenseNet(
        growth_rate=growth_rate,
        block_config=tuple(int(b) for b in block_config),
        num_init_features=num_init_features,
        bn_size=bn_size,
        num_classes=n_classes,
    )
    model.features.conv0 = _kaiming(
        nn.Conv2d(3, num_init_features, kernel_size=3, stride=1, padding=1, bias=False)
    )
    model.features.pool0 = nn.Identity()
    return model


def cifar_mobilenetv2(
    n_classes: int = 10, width_mult: float = 1.0, stage_depths: Sequence[int] | None = None
) -> nn.Module:
    """MobileNetV2 (torchvision's class) with the stem and the second stage at stride 1 (4x4 final maps).

    ``stage_depths`` overrides the number of inverted-residual blocks of the 7 stages
    (1, 2, 3, 4, 3, 3, 1 in the original network).
    """
    from torchvision.models.mobilenetv2 import MobileNetV2

    if not width_mult > 0:
        raise ValueError(f"cifar_mobilenetv2: width_mult must be positive, got {width_mult!r}")
    # t, c, n, s of the original network, with stage 2 (24 channels) at stride 1 instead of 2.
    setting = [
        [1, 16, 1, 1],
        [6, 24, 2, 1],
        [6, 32, 3, 2],
        [6, 64, 4, 2],
        [6, 96, 3, 1],
        [6, 160, 3, 2],
        [6, 320, 1, 1],
    ]
    if stage_depths is not None:
        if len(stage_depths) != len(setting):
            raise ValueError(f"cifar_mobilenetv2: stage_depths must give 7 depths, got {list(stage_depths)}")
        _check_positive("cifar_mobilenetv2", **{f"stage_depths[{i}]": v for i, v in enumerate(stage_depths)})
        setting = [[t, c, int(n), s] for (t, c, _, s), n in zip(setting, stage_depths)]
    model = MobileNetV2(num_classes=n_classes, width_mult=width_mult, inverted_residual_setting=setting)
    stem = model.features[0][0]
    if not isinstance(
        stem, nn.Conv2d
    ):  # torchvision layout changed: fail loudly rather than train a 1x1-map model
        raise TypeError(f"unexpected MobileNetV2 stem {type(stem).__name__}")
    stem.stride = (1, 1)
    return model


def cifar_vgg11_bn(
    n_classes: int = 10, width: int = 64, hidden: int = 512, dropout: float = 0.5
) -> nn.Module:
    """VGG-11 with batch norm (torchvision's ``VGG`` and ``make_layers``) for 32x32 inputs.

    Five max-pools bring 32x32 to 1x1, so the 7x7 adaptive pool and the 25088-4096-4096
    classifier of the ImageNet model become a global pool and a ``8 width``-``hidden``-``hidden``
    classifier (512-512-512 at the default width, as in the common CIFAR-10 VGGs).
    """
    from torchvision.models.vgg import VGG, cfgs, make_layers

    _check_positive("cifar_vgg11_bn", width=width, hidden=hidden, n_classes=n_classes)
    cfg = [v if v == "M" else int(v) * width // 64 for v in cfgs["A"]]
    features = make_layers(cfg, batch_norm=True)
    # The ImageNet classifier that VGG.__init__ builds (and that is replaced right away) is
    # created on the meta device: 100M parameters never allocated nor initialised.
    with torch.device("meta"):
        model = VGG(features, num_classes=n_classes, init_weights=True, dropout=dropout)
    model.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    model.classifier = nn.Sequential(
        nn.Linear(cfg[-2], hidden),
        nn.ReLU(True),
        nn.Dropout(p=dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(True),
        nn.Dropout(p=dropout),
        nn.Linear(hidden, n_classes),
    )
    for module in model.classifier:
        if isinstance(module, nn.Linear):  # torchvision's VGG initialisation
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)
    if any(p.is_meta for p in model.parameters()):
        raise RuntimeError("cifar_vgg11_bn: a parameter was left on the meta device")
    return model


MODELS = {
    "cifar-resnet18": cifar_resnet18,
    "cifar-resnet50": cifar_resnet50,
    "cifar-densenet121": cifar_densenet121,
    "cifar-mobilenetv2": cifar_mobilenetv2,
    "cifar-vgg11-bn": cifar_vgg11_bn,
}


def build_zoo_model(name: str, n_classes: int = 10, **kwargs) -> nn.Module:
    """A zoo model by name; ``mlp`` gets the CIFAR-10 input size (3 x 32 x 32) unless given."""
    if name not in ZOO:
        raise KeyError(f"{name!r} is not in the CIFAR-10 zoo; zoo: {', '.join(ZOO)}")
    if name == "mlp":
        kwargs.setdefault("n_features", 3 * 32 * 32)
    return build_model(name, n_classes=n_classes, **kwargs)
