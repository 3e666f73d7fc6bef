"""Convolutional classifiers: a trunk (image -> feature vector) and a linear head.

SimpleCNN is the write-ups' pattern (REFERENCE.md fmnist-cnn, cifar-cnn, cifar-augment):
valid convolutions with ReLU, each followed by 2x2 max pooling, then dense layers. StrongCNN
is this project's small modern CNN: 3x3 'same' convolutions with BatchNorm, max pooling
between stages and global average pooling. Both split into `trunk` and `head` so a trunk can
be trained on one task and reused with a new head (cifar-transfer).
"""

from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    def __init__(self, trunk: nn.Module, features: int, n_classes: int):
        super().__init__()
        self.trunk = trunk
        self.features = features
        self.head = nn.Linear(features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def simple_trunk(in_channels: int, size: int, convs: list, dense: list[int]) -> tuple[nn.Sequential, int]:
    """[conv k x k (valid) -> ReLU -> 2x2 max pool] per (channels, k) in convs, then dense ReLU layers."""
    layers: list[nn.Module] = []
    channels = in_channels
    for out, k in convs:
        layers += [nn.Conv2d(channels, out, k), nn.ReLU(), nn.MaxPool2d(2)]
        channels = out
        size = (size - k + 1) // 2
        if size < 1:
            raise ValueError(f"convolutions {convs} shrink the image to nothing")
    layers.append(nn.Flatten())
    width = channels * size * size
    for units in dense:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    return nn.Sequential(*layers), width


def strong_trunk(in_channels: int, widths: list[int], depth: int) -> tuple[nn.Sequential, int]:
    """Per width: depth x [conv 3x3 (same) -> BatchNorm -> ReLU], then 2x2 max pool; global average pool."""
    layers: list[nn.Module] = []
    channels = in_channels
    for i, width in enumerate(widths):
        for _ in range(depth):
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            channels = width
        if i < len(widths) - 1:
            layers.append(nn.MaxPool2d(2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), channels


def build(values: dict, in_channels: int, size: int, n_classes: int) -> Classifier:
    """A classifier from the `model` params: kind simple (convs, dense) or strong (widths, depth)."""
    if values["kind"] == "simple":
        trunk, features = simple_trunk(in_channels, size, values["convs"], values["dense"])
    elif values["kind"] == "strong":
        trunk, features = strong_trunk(in_channels, values["widths"], values["depth"])
    else:
        raise ValueError(f"unknown CNN kind {values['kind']!r} (simple, strong)")
    return Classifier(trunk, features, n_classes)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
