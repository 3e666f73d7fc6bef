"""ResNet with basic blocks (He et al. 2016), for greyscale faces (REFERENCE.md face-classify).

ResNet-34 is blocks (3, 4, 6, 3) at widths (64, 128, 256, 512): each stage after the first
halves the resolution in its first block (a strided 3x3 convolution, and a 1x1 strided
projection on the shortcut), then global average pooling gives the embedding that the linear
head classifies and that verification compares by cosine (`embed`). The stem is the ImageNet
one (7x7 stride-2 convolution, 3x3 stride-2 max pool), which brings a 64-pixel face to 16x16
before the first stage; `stem_stride: 1` with no pool keeps small images at full resolution.

The head is linear (softmax cross-entropy) or `cosface` (Wang et al. 2018, CosFace): logits are
scale × the cosine between the embedding and each class's weight vector, and training subtracts
scale × margin from the true class's logit (`cosface_loss`), so a class's embeddings must sit
closer in angle to its own weight than to any other by a margin: the angular geometry that
verification by cosine measures, learned directly rather than as a by-product of the softmax.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# input_norm modes and how a setting line names each
INPUT_NORMS = {"standardize": "standardised", "log": "log-standardised",
               "tantriggs": "Tan-Triggs-normalised (gamma, difference of Gaussians, contrast equalisation) and standardised"}
DOG_SIGMAS = (0.5, 1.0)  # tantriggs: the paper's (1, 2) pixels halved, for 48x42 faces


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, 1, H, W) images, kernel radius 4 sigma, edges reflected."""
    radius = max(1, math.ceil(4 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1))


class Standardize(nn.Module):
    """Per image, on input in [-1, 1] (the augmentations' range), then zero mean and unit variance:
    - standardize: nothing before;
    - log: the log of the intensity (so lighting, a product, becomes a sum);
    - tantriggs: Tan and Triggs' illumination normalisation (IEEE TIP 2010): gamma 0.2, a
      difference of Gaussians (dog_sigmas, pixels: removes the slow shading a light casts, and the
      finest noise), then two-stage contrast equalisation (alpha 0.1, tau 10) and tanh compression."""

    def __init__(self, mode: str, dog_sigmas: tuple[float, float] = DOG_SIGMAS):
        super().__init__()
        if mode not in INPUT_NORMS:
            raise ValueError(f"unknown input_norm {mode!r} ({', '.join(INPUT_NORMS)})")
        self.mode, self.dog_sigmas = mode, tuple(dog_sigmas)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        dims = tuple(range(1, x.ndim))
        if self.mode == "log":
            x = torch.log((x + 1) / 2 + 1 / 255)
        elif self.mode == "tantriggs":
            x = ((x + 1) / 2 + 1 / 255).pow(0.2)
            x = gaussian_blur(x, self.dog_sigmas[0]) - gaussian_blur(x, self.dog_sigmas[1])
            alpha, tau = 0.1, 10.0
            x = x / x.abs().pow(alpha).mean(dims, keepdim=True).pow(1 / alpha).clamp_min(1e-12)
            x = x / x.abs().clamp_max(tau).pow(alpha).mean(dims, keepdim=True).pow(1 / alpha).clamp_min(1e-12)
            x = tau * torch.tanh(x / tau)
        x = x - x.mean(dims, keepdim=True)
        return x / (x.pow(2).mean(dims, keepdim=True).sqrt() + 1e-6)


class BasicBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the shortcut (projected when the shape changes), ReLU."""

    def __init__(self, channels_in: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Identity() if stride == 1 and channels_in == channels else nn.Sequential(
            nn.Conv2d(channels_in, channels, 1, stride, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CosineHead(nn.Module):
    """scale × cos(embedding, class weight) for every class: CosFace's logits (no margin: that is
    the loss's, cosface_loss)."""

    def __init__(self, features: int, n_classes: int, scale: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, features) / math.sqrt(features))
        self.scale = scale

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.scale * F.linear(F.normalize(embedding, dim=1), F.normalize(self.weight, dim=1))


def cosface_loss(scale: float, margin: float):
    """fit()'s loss for a CosineHead: cross-entropy with scale × margin taken off each true class's
    logit (at prediction time the logits are used as they are, so the margin never moves an argmax)."""

    def fn(logits: torch.Tensor, y: torch.Tensor, mask=None) -> torch.Tensor:
        return F.cross_entropy(logits - scale * margin * F.one_hot(y, logits.shape[1]), y)

    return fn


class ResNet(nn.Module):
    """Per-image standardisation, stem, stages of basic blocks, global average pooling (the
    embedding), linear or cosine head."""

    def __init__(self, n_classes: int, blocks: list[int], widths: list[int], in_channels: int = 1,
                 stem_stride: int = 2, stem_pool: bool = True, input_norm: str = "standardize",
                 dog_sigmas: tuple[float, float] = DOG_SIGMAS, head: str = "linear", scale: float = 30.0):
        super().__init__()
        self.standardize = Standardize(input_norm, dog_sigmas)
        if len(blocks) != len(widths) or not blocks or min(blocks) < 1:
            raise ValueError(f"ResNet needs one block count >= 1 per width, found blocks {blocks}, widths {widths}")
        stem = [nn.Conv2d(in_channels, widths[0], 7 if stem_stride > 1 else 3, stem_stride,
                          3 if stem_stride > 1 else 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
        if stem_pool:
            stem.append(nn.MaxPool2d(3, 2, 1))
        self.stem = nn.Sequential(*stem)
        stages, channels = [], widths[0]
        for i, (n, width) in enumerate(zip(blocks, widths)):
            stages.append(nn.Sequential(*(BasicBlock(channels if b == 0 else width, width, 2 if (b == 0 and i > 0) else 1)
                                          for b in range(n))))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.features = channels
        if head not in ("linear", "cosface"):
            raise ValueError(f"ResNet head is {head!r}, not linear or cosface")
        self.head = nn.Linear(channels, n_classes) if head == "linear" else CosineHead(channels, n_classes, scale)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for block in self.modules():  # zero-init the last BN of each block: every block starts as identity
            if isinstance(block, BasicBlock):
                nn.init.zeros_(block.bn2.weight)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer: globally pooled features of the last stage."""
        return self.pool(self.stages(self.stem(self.standardize(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def build(values: dict, n_classes: int, in_channels: int = 1) -> ResNet:
    """A ResNet from the `model` params: blocks, widths, stem_stride, stem_pool, input_norm, dog_sigmas,
    head {kind, scale}."""
    return ResNet(n_classes, list(values["blocks"]), list(values["widths"]), in_channels,
                  values["stem_stride"], values["stem_pool"], values["input_norm"], values["dog_sigmas"],
                  values["head"]["kind"], values["head"]["scale"])


def loss_of(values: dict):
    """fit()'s loss_fn for the `model` params' head: None (cross-entropy) or CosFace's."""
    h = values["head"]
    return None if h["kind"] == "linear" else cosface_loss(h["scale"], h["margin"])
