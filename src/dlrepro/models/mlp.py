"""Fully connected classifiers."""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


class MLP(nn.Module):
    """in_features -> hidden[0] -> ... -> hidden[-1] -> n_classes, one nonlinearity per hidden layer."""

    def __init__(self, in_features: int, hidden: list[int], n_classes: int,
                 activation: str = "relu", init: str = "he"):
        super().__init__()
        widths = [in_features, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], n_classes)
        self.activation = ACTIVATIONS[activation]
        if init == "he":
            self.apply(_he_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[-1]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The flattened input, every hidden layer's activations, and the logits."""
        h = x.flatten(1)
        outputs = [h]
        for layer in self.hidden:
            h = self.activation(layer(h))
            outputs.append(h)
        outputs.append(self.out(h))
        return outputs


def _he_init(module: nn.Module) -> None:
    # Variance scaling on fan-in for weights and biases alike, as the original's initializer.
    if isinstance(module, nn.Linear):
        std = math.sqrt(2.0 / module.in_features)
        nn.init.normal_(module.weight, 0.0, std)
        nn.init.normal_(module.bias, 0.0, std)
