"""ResNet with basic blocks (He et al. 2016), for greyscale faces (REFERENCE.md face-classify).

ResNet-34 is blocks (3, 4, 6, 3) at widths (64, 128, 256, 512): each stage after the first
halves the resolution in its first block (a strided 3x3 convolution, and a 1x1 strided
projection on the shortcut), then global average pooling gives the embedding that the linear
head classifies and that verification compares by cosine (`embed`). The stem is the ImageNet
one (7x7 stride-2 convolution, 3x3 stride-2 max pool), which brings a 64-pixel face to 16x16
before the first stage; `stem_stride: 1` with no pool keeps small images at full resolution.
"""

from __future__ import annotations

import torch
from torch import nn


class Standardize(nn.Module):
    """Per image: optionally the log of the intensity (so lighting, a product, becomes a sum), then
    zero mean and unit variance. Input in [-1, 1] (the augmentations' range)."""

    def __init__(self, log: bool):
        super().__init__()
        self.log = log

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if self.log:
            x = torch.log((x + 1) / 2 + 1 / 255)
        dims = tuple(range(1, x.ndim))
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


class ResNet(nn.Module):
    """Per-image standardisation, stem, stages of basic blocks, global average pooling (the
    embedding), linear head."""

    def __init__(self, n_classes: int, blocks: list[int], widths: list[int], in_channels: int = 1,
                 stem_stride: int = 2, stem_pool: bool = True, input_norm: str = "standardize"):
        super().__init__()
        if input_norm not in ("standardize", "log"):
            raise ValueError(f"unknown input_norm {input_norm!r} (standardize, log)")
        self.standardize = Standardize(input_norm == "log")
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
        self.head = nn.Linear(channels, n_classes)
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
    """A ResNet from the `model` params: blocks, widths, stem_stride, stem_pool, input_norm."""
    return ResNet(n_classes, list(values["blocks"]), list(values["widths"]), in_channels,
                  values["stem_stride"], values["stem_pool"], values["input_norm"])
