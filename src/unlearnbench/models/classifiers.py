"""Classifiers: AllCNN (the gradient-surgery evaluation classifier), logistic regression and a small MLP.

AllCNN (Springenberg et al., 2014) replaces pooling by strided convolutions and ends with
global average pooling, which lets the same architecture run on 8x8 stand-in digits and
28x28 MNIST. ``width`` scales the channels (96/192 in the original paper).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class AllCNN(nn.Module):
    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 96, dropout: float = 0.0) -> None:
        super().__init__()
        w1, w2 = width, 2 * width

        def block(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *block(in_channels, w1),
            *block(w1, w1),
            *block(w1, w1, stride=2),
            nn.Dropout(dropout),
            *block(w1, w2),
            *block(w2, w2),
            *block(w2, w2, stride=2),
            nn.Dropout(dropout),
            *block(w2, w2),
            *block(w2, w2, kernel=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(w2, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features: the space in which the suite computes FID for domain classifiers."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


class LogisticRegression(nn.Module):
    """Multinomial logistic regression on flattened inputs (L-CODEC paper, MNIST experiments)."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


class MLP(nn.Module):
    """A fully connected classifier (the two-layer MLP of the L-CODEC CIFAR-10 zoo, among others)."""

    def __init__(self, n_features: int, n_classes: int, hidden: Sequence[int] = (256,)) -> None:
        super().__init__()
        widths = [n_features, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.body = nn.Sequential(nn.Flatten(), *layers)
        self.head = nn.Linear(widths[-1], n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def cross_entropy_loss(model: nn.Module, batch) -> torch.Tensor:
    """Mean cross-entropy of ``(inputs, labels)``: the classifiers' training loss."""
    x, y = batch[0], batch[1]
    return F.cross_entropy(model(x), y)


MODELS = {"allcnn": AllCNN, "logistic": LogisticRegression, "mlp": MLP}
