"""Fully connected classifiers."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
               "leaky_relu": F.leaky_relu}
# he: variance scaling on fan-in for weights and biases (the mnist-mlp original's initializer).
# normal: N(0, init_std^2) weights; xavier: Glorot normal; he_normal: He normal (fan-in) weights;
# zeros: every weight 0. All but he and torch (PyTorch's default) start biases at 0.
INITS = ("he", "torch", "normal", "xavier", "he_normal", "zeros")


class MLP(nn.Module):
    """in_features -> hidden[0] -> ... -> hidden[-1] -> n_classes, one nonlinearity per hidden layer.

    Each hidden layer is Linear -> [BatchNorm] -> activation -> [Dropout(dropout[i])]. With no
    hidden layers the model is softmax regression.
    """

    def __init__(self, in_features: int, hidden: list[int], n_classes: int,
                 activation: str = "relu", init: str = "he", *, init_std: float = 0.01,
                 dropout: list[float] | None = None, batchnorm: bool = False):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown init {init!r} ({', '.join(INITS)})")
        widths = [in_features, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], n_classes)
        self.activation = ACTIVATIONS[activation]
        dropout = list(dropout) if dropout is not None else [0.0] * len(hidden)
        if len(dropout) != len(hidden):
            raise ValueError(f"{len(dropout)} dropout rates for {len(hidden)} hidden layers")
        self.norms = nn.ModuleList(nn.BatchNorm1d(w) for w in hidden) if batchnorm else None
        self.drops = nn.ModuleList(nn.Dropout(p) for p in dropout) if any(dropout) else None
        if init == "he":
            self.apply(_he_init)
        elif init != "torch":
            gain = nn.init.calculate_gain("leaky_relu" if activation == "leaky_relu" else "relu")
            for layer in [*self.hidden, self.out]:
                _init_linear(layer, init, init_std, gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[-1]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The flattened input, every hidden layer's activations, and the logits."""
        h = x.flatten(1)
        outputs = [h]
        for i, layer in enumerate(self.hidden):
            h = layer(h)
            if self.norms is not None:
                h = self.norms[i](h)
            h = self.activation(h)
            if self.drops is not None:
                h = self.drops[i](h)
            outputs.append(h)
        outputs.append(self.out(h))
        return outputs


def from_section(m: dict, in_features: int = 28 * 28, n_classes: int = 10) -> MLP:
    """The MLP a params model section describes: `hidden` widths, or `depth` x `width` with
    dropout_first after the first hidden layer and dropout after the others (MNIST by default)."""
    hidden = m["hidden"] if "hidden" in m else [m["width"]] * m["depth"]
    dropout = [m.get("dropout_first", 0.0), *[m.get("dropout", 0.0)] * (len(hidden) - 1)][:len(hidden)]
    return MLP(in_features, hidden, n_classes, m["activation"], m["init"], init_std=m.get("init_std", 0.01),
               dropout=dropout, batchnorm=m.get("batchnorm", False))


@torch.no_grad()
def layer_features(model: MLP, x: torch.Tensor, batch_size: int = 2048) -> list[np.ndarray]:
    """Input and every hidden layer's activations (logits left out), as float32 numpy arrays."""
    model.eval()
    chunks = [model.features(x[i:i + batch_size])[:-1] for i in range(0, len(x), batch_size)]
    return [torch.cat(layer).float().cpu().numpy() for layer in zip(*chunks)]


def _he_init(module: nn.Module) -> None:
    # Variance scaling on fan-in for weights and biases alike, as the original's initializer.
    if isinstance(module, nn.Linear):
        std = math.sqrt(2.0 / module.in_features)
        nn.init.normal_(module.weight, 0.0, std)
        nn.init.normal_(module.bias, 0.0, std)


def _init_linear(layer: nn.Linear, init: str, std: float, gain: float) -> None:
    if init == "normal":
        nn.init.normal_(layer.weight, 0.0, std)
    elif init == "xavier":
        nn.init.xavier_normal_(layer.weight)
    elif init == "he_normal":
        nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(layer.in_features))
    else:  # zeros
        nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
