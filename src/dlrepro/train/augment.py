"""Data augmentation on whole batches of image tensors, on their device.

Every function takes a batch (N, C, H, W) with values in [-1, 1] and a torch.Generator, draws one
random choice per image, and returns a batch of the same shape: no per-sample Python, and the
same generator state gives the same batch. A generator on the batch's device keeps the draws
there; a CPU generator with a CUDA batch (a training seed's one stream, as face_recognition
shares fit's) draws on the CPU and copies the N numbers over, the same draws on either device.
Labels are never touched. `Augmented` wraps a model so that it augments its input in training
mode only; evaluation (model.eval()) sees the images as they are.
"""

from __future__ import annotations

import torch
from torch import nn


def _uniform(n: int, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=generator.device, dtype=torch.float32).to(x.device)


def brightness(x: torch.Tensor, generator: torch.Generator, amount: float = 0.1) -> torch.Tensor:
    """Scale each image's intensities (in [0, 1] terms) by a factor in [1 - amount, 1 + amount].

    The original brightened by x1.1 and darkened by x0.9; a factor drawn per image covers both.
    """
    factor = 1 + amount * (2 * _uniform(len(x), x, generator) - 1)
    return ((x + 1) * factor.view(-1, 1, 1, 1).to(x.dtype) - 1).clamp(-1, 1)


def hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = _uniform(len(x), x, generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def random_crop(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Pad by `pad` pixels (reflecting the border) and cut a random window of the original size."""
    n, c, h, w = x.shape
    padded = nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = (_uniform(n, x, generator) * (2 * pad + 1)).long().clamp(max=2 * pad)
    dx = (_uniform(n, x, generator) * (2 * pad + 1)).long().clamp(max=2 * pad)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def lighting(x: torch.Tensor, generator: torch.Generator, strength: float = 2.0, gamma: float = 0.5) -> torch.Tensor:
    """Relight each image: intensities (in [0, 1] terms) raised to a power exp(U(-gamma, gamma)),
    then multiplied by exp(s * ramp), a log-linear ramp across the image in a random direction
    with s drawn in [0, strength], so one side grows up to e^s times brighter than the other, as
    under a light from the side (faces under Yale B's lights)."""
    n, _, h, w = x.shape
    angle = 2 * torch.pi * _uniform(n, x, generator)
    amount = strength * _uniform(n, x, generator)
    power = torch.exp(gamma * (2 * _uniform(n, x, generator) - 1))
    u = torch.linspace(-1, 1, w, device=x.device, dtype=torch.float32)
    v = torch.linspace(-1, 1, h, device=x.device, dtype=torch.float32)
    ramp = torch.cos(angle).view(-1, 1, 1, 1) * u.view(1, 1, 1, -1) + torch.sin(angle).view(-1, 1, 1, 1) * v.view(1, 1, -1, 1)
    unit = ((x.float() + 1) / 2).clamp(min=0) ** power.view(-1, 1, 1, 1)
    return ((unit * torch.exp(amount.view(-1, 1, 1, 1) * ramp)).clamp(0, 1) * 2 - 1).to(x.dtype)


OPS = {"brightness": brightness, "hflip": hflip, "crop": random_crop, "lighting": lighting}


def augment(x: torch.Tensor, ops: list[str], generator: torch.Generator, settings: dict) -> torch.Tensor:
    """Apply the named augmentations in order; settings holds brightness (amount), crop_pad and,
    for lighting, lighting_strength and lighting_gamma."""
    for name in ops:
        if name == "brightness":
            x = brightness(x, generator, settings["brightness"])
        elif name == "hflip":
            x = hflip(x, generator)
        elif name == "crop":
            x = random_crop(x, generator, settings["crop_pad"])
        elif name == "lighting":
            x = lighting(x, generator, settings["lighting_strength"], settings["lighting_gamma"])
        else:
            raise ValueError(f"unknown augmentation {name!r} ({', '.join(OPS)})")
    return x


class Augmented(nn.Module):
    """A model whose training-mode forward pass first augments its input batch."""

    def __init__(self, model: nn.Module, ops: list[str], settings: dict, generator: torch.Generator):
        super().__init__()
        self.model = model
        self.ops, self.settings, self.generator = list(ops), dict(settings), generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.ops:
            with torch.no_grad():
                x = augment(x, self.ops, self.generator, self.settings)
        return self.model(x)


def augmented(model: nn.Module, settings: dict, seed: int) -> nn.Module:
    """The model itself when settings (an `augment` params block, or {}) name no ops; otherwise the
    model wrapped to augment its training batches, drawing from its own stream seeded per training
    seed, so that augmentation never shifts the batch order of the same seed without it."""
    if not settings.get("ops"):
        return model
    device = next(model.parameters()).device
    return Augmented(model, settings["ops"], settings, torch.Generator(device).manual_seed(10_000 + seed))
