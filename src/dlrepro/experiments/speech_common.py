"""What the speech experiments share: stage start, masked loss, input normalisation, chunking."""

from __future__ import annotations

import time

import numpy as np
import torch

from dlrepro.train.engine import stage_device


def start(runtime: dict) -> tuple[float, torch.device]:
    started = time.perf_counter()
    return started, stage_device(runtime)


def masked_mse(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over the frames the mask keeps (mask: batch x frames, 0 on padding)."""
    err = (out - target) ** 2
    if mask is None:
        return err.mean()
    keep = mask[..., None].to(err.dtype)
    return (err * keep).sum() / (keep.sum() * err.shape[-1]).clamp_min(1)


def log_stats(mags: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin mean and standard deviation of log(1 + |X|) (the models' input normalisation)."""
    logs = np.log1p(mags.astype(np.float64))
    return torch.from_numpy(logs.mean(0)), torch.from_numpy(logs.std(0) + 1e-3)


def chunks(frames: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Overlapping chunks (n, length, bins) of a frames x bins array."""
    starts = range(0, max(len(frames) - length, 0) + 1, hop)
    return np.stack([frames[s:s + length] for s in starts])


def schedule_text(t: dict) -> str:
    return f"{t['optimizer']} {t['lr']:g}, {t['lr_schedule']} schedule, {t['epochs']} epochs, batch {t['batch_size']}"
