"""An MLP on a window of frames around each frame, the windows gathered by index arithmetic.

The frames of all utterances sit once on the device, each utterance padded with `context` zero
frames on both sides (zero = the training mean after normalisation), so a window never crosses
into another utterance. The model's input is a batch of frame positions in that padded tensor;
forward() gathers positions + (-context .. context) and flattens the window: no frame's
(2 * context + 1) x bands window is ever stored.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dlrepro.models.mlp import MLP


def pad_utterances(frames: np.ndarray, frame_offsets: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """(padded frames, position of every original frame in them): utterance u's frames move by
    context * (2u + 1) rows, with `context` zero rows before and after each utterance."""
    n = np.diff(frame_offsets)
    utt = np.repeat(np.arange(len(n)), n)
    position = np.arange(len(frames)) + context * (2 * utt + 1)
    padded = np.zeros((len(frames) + 2 * context * len(n), frames.shape[1]), dtype=frames.dtype)
    padded[position] = frames
    return padded, position.astype(np.int64)


class ContextMLP(nn.Module):
    """Logits of each centre frame's class from its window of 2 * context + 1 frames."""

    def __init__(self, frames: torch.Tensor, context: int, hidden: list[int], n_classes: int,
                 dropout: float = 0.0, batchnorm: bool = False):
        super().__init__()
        self.register_buffer("frames", frames, persistent=False)  # data, not weights: not in the state dict
        self.register_buffer("window", torch.arange(-context, context + 1, device=frames.device), persistent=False)
        self.mlp = MLP((2 * context + 1) * frames.shape[1], list(hidden), n_classes, "relu", "he",
                       dropout=[dropout] * len(hidden), batchnorm=batchnorm)

    def forward(self, position: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.frames[position[:, None] + self.window].flatten(1))
