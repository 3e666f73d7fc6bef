"""Conditional MLP GANs on digits (cgan-label, cgan-center): conditioning by concatenation.

Both networks take a condition vector beside their own input: the one-hot label (cgan-label) or
the flattened centre patch (cgan-center), multiplied by `scale` before it is concatenated (a
one-hot label has norm 1 beside noise of norm about √100 = 10 and an image of norm about 9: at
scale 1 the networks take thousands of steps to start using it). The generator maps [noise,
condition] through hidden LeakyReLU layers to sigmoid pixels (images in [0, 1], as the MNIST splits hold them); the
discriminator maps [flattened image, condition] through hidden LeakyReLU layers with dropout to
one logit (real: positive).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SHAPE = (1, 28, 28)


def _layers(widths: list[int], slope: float, dropout: float = 0.0, batchnorm: bool = False) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), *([nn.BatchNorm1d(b)] if batchnorm else []), nn.LeakyReLU(slope)]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


class Generator(nn.Module):
    """[noise, condition] -> hidden widths ([BatchNorm], LeakyReLU) -> pixels (sigmoid), as N x C x H x W.

    With batchnorm, generate in eval mode (running statistics), so that a digit does not depend
    on the others drawn with it."""

    def __init__(self, noise: int, condition: int, hidden: list[int], shape: tuple[int, ...] = SHAPE,
                 slope: float = 0.2, batchnorm: bool = False, scale: float = 1.0):
        super().__init__()
        self.noise, self.condition, self.shape, self.scale = noise, condition, tuple(shape), scale
        widths = [noise + condition, *hidden]
        self.net = nn.Sequential(*_layers(widths, slope, batchnorm=batchnorm), nn.Linear(widths[-1], math.prod(shape)))

    def forward(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(torch.cat([z, self.scale * condition], 1))).view(-1, *self.shape)


class Discriminator(nn.Module):
    """[flattened image, condition] -> hidden widths (LeakyReLU, dropout) -> one logit."""

    def __init__(self, condition: int, hidden: list[int], shape: tuple[int, ...] = SHAPE, slope: float = 0.2,
                 dropout: float = 0.0, scale: float = 1.0):
        super().__init__()
        self.condition, self.scale = condition, scale
        widths = [math.prod(shape) + condition, *hidden]
        self.net = nn.Sequential(*_layers(widths, slope, dropout), nn.Linear(widths[-1], 1))

    def forward(self, images: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([images.flatten(1), self.scale * condition], 1)).squeeze(1)


def build(model: dict, condition: int, shape: tuple[int, ...] = SHAPE) -> tuple[Generator, Discriminator]:
    """The pair from params: model holds noise, generator and discriminator (hidden widths),
    batchnorm (the generator's), dropout (the discriminator's), slope (LeakyReLU's negative slope)
    and condition_scale (what the condition is multiplied by in both)."""
    scale = model["condition_scale"]
    return (Generator(model["noise"], condition, model["generator"], shape, model["slope"], model["batchnorm"], scale),
            Discriminator(condition, model["discriminator"], shape, model["slope"], model["dropout"], scale))


def one_hot(labels: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """Labels as the float one-hot vectors both networks of cgan-label are conditioned on."""
    return F.one_hot(labels, classes).float()


def n_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
