"""A patch LSTM for digit completion (REFERENCE.md pixel-rnn).

A 28x28 image is read as a sequence of 16 patches of 7x7 in raster order (left to right, top to
bottom), each flattened to 49 values. Stacked LSTMs (64, 128, 64 units, as the original) and a
linear layer predict the next patch from the patches so far. Used autoregressively to complete an
image whose top half (the first 8 patches) is given, each predicted patch fed back in as the next
input; trained either the same way (FreeRunning: the bottom half's inputs are its own predictions)
or with teacher forcing (the true patches as inputs).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def to_patches(images: torch.Tensor, patch: int = 7) -> torch.Tensor:
    """N x 1 x H x W (or N x H x W) images -> N x (H/patch * W/patch) x patch² patches, raster order."""
    n, h, w = images.shape[0], images.shape[-2], images.shape[-1]
    if h % patch or w % patch:
        raise ValueError(f"to_patches: {h}x{w} images do not split into {patch}x{patch} patches")
    rows, cols = h // patch, w // patch
    grid = images.reshape(n, rows, patch, cols, patch).permute(0, 1, 3, 2, 4)
    return grid.reshape(n, rows * cols, patch * patch)


def from_patches(patches: torch.Tensor, patch: int = 7, size: int = 28) -> torch.Tensor:
    """The inverse of to_patches for square images: N x P x patch² -> N x 1 x size x size."""
    n, grid = patches.shape[0], size // patch
    if patches.shape[1:] != (grid * grid, patch * patch):
        raise ValueError(f"from_patches: expected N x {grid * grid} x {patch * patch}, got {tuple(patches.shape)}")
    images = patches.reshape(n, grid, grid, patch, patch).permute(0, 1, 3, 2, 4)
    return images.reshape(n, 1, size, size)


class PatchLSTM(nn.Module):
    """LSTM layers of the given widths over patch vectors, then a linear layer to the next patch's logits.

    mean and std (the training pixels'): inputs are standardised with them, and the output bias
    starts at the logit of the mean, so training starts from the mean image, not from 0.5 grey.
    Both make the LSTMs learn several times faster in the first few hundred steps.
    """

    def __init__(self, hidden: list[int], patch: int = 7, mean: float = 0.0, std: float = 1.0):
        super().__init__()
        dims = [patch * patch, *hidden]
        self.patch = patch
        self.register_buffer("in_mean", torch.tensor(float(mean)))
        self.register_buffer("in_std", torch.tensor(float(std)))
        self.lstms = nn.ModuleList(nn.LSTM(a, b, batch_first=True) for a, b in zip(dims, dims[1:]))
        self.out = nn.Linear(dims[-1], patch * patch)
        if 0 < mean < 1:
            with torch.no_grad():
                self.out.bias.fill_(math.log(mean / (1 - mean)))

    def step(self, x: torch.Tensor, states: list | None = None) -> tuple[torch.Tensor, list]:
        """Logits of the next patch after each of x's patches (N x T x patch²), from the layers'
        (h, c) states (None: zeros); returns them and the states after x."""
        x = (x - self.in_mean) / self.in_std
        new = []
        for i, lstm in enumerate(self.lstms):
            x, state = lstm(x, None if states is None else states[i])
            new.append(state)
        return self.out(x), new

    def forward(self, patches: torch.Tensor, given: int | None = None) -> torch.Tensor:
        """The logits of patches 1..P-1. given None: each from the true patches before it (teacher
        forcing). Otherwise the first `given` patches are read as they are and every later input is
        the model's own prediction (the sigmoid of its logits) fed back, as in completion; gradients
        flow through the fed-back predictions. Reads nothing of patches beyond the first `given`."""
        if given is None:
            return self.step(patches[:, :-1])[0]
        total = patches.shape[1]
        if not 0 < given < total:
            raise ValueError(f"PatchLSTM: given must be between 1 and {total - 1}, got {given}")
        logits, states = self.step(patches[:, :given])
        out = [logits]
        for _ in range(given, total - 1):
            logits, states = self.step(torch.sigmoid(logits[:, -1:]), states)
            out.append(logits)
        return torch.cat(out, 1)

    @torch.no_grad()
    def complete(self, patches: torch.Tensor, given: int) -> torch.Tensor:
        """Every image's first `given` patches as they are, the rest generated one patch at a time
        (each predicted patch's pixel means fed back as the next input), the whole batch at once."""
        logits = self(patches, given)
        return torch.cat([patches[:, :given], torch.sigmoid(logits[:, given - 1:].float()).to(patches.dtype)], 1)


class FreeRunning(nn.Module):
    """A PatchLSTM trained as it completes (for engine.fit): after the first `given` patches it
    reads its own predictions, not the true patches, so training sees the inputs completion will
    give it (teacher forcing never does: its errors compound when fed back)."""

    def __init__(self, model: PatchLSTM, given: int):
        super().__init__()
        self.model, self.given = model, given

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.model(patches, self.given)
