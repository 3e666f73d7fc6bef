"""What the speech experiments share: masked loss, input normalisation, chunking, padding, paired comparison."""

from __future__ import annotations

import numpy as np
import torch

from dlrepro.train.stats import mean_ci95


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


def padded(frames: np.ndarray, offsets: np.ndarray, utts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Utterances' frames zero-padded to `length` frames: (n, length, bins) and the mask (n, length)."""
    out = np.zeros((len(utts), length, frames.shape[1]), np.float32)
    mask = np.zeros((len(utts), length), np.float32)
    for row, i in enumerate(utts):
        seq = frames[offsets[i]:offsets[i + 1]]
        out[row, :len(seq)] = seq
        mask[row, :len(seq)] = 1
    return out, mask


def comparison(results: dict, a: str, b: str) -> dict | None:
    """Per-seed SNR difference of variant a minus variant b (seeds paired by index), its mean and interval."""
    if a not in results or b not in results:
        return None
    diffs = [x["test_snr_db"] - y["test_snr_db"] for x, y in zip(results[a]["per_seed"], results[b]["per_seed"])]
    return {"a": a, "b": b, "snr_difference_db": mean_ci95(diffs)}
