"""What the speech experiments share: the seed loop with its outputs, losses and feature tensors.

run_seeds() is classify.run_seeds for metrics other than accuracy: it trains every seed, writes
runs/seed<k>/ (history.csv, metrics.json, what the seed saved), metrics.json with mean and 95%
interval over seeds of every named metric, `data`, `setting`, and provenance.json.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dlrepro.io import atomic_path, write_history, write_json
from dlrepro.train.engine import seed_everything, stage_device
from dlrepro.train.provenance import provenance
from dlrepro.train.stats import mean_ci95

log = logging.getLogger(__name__)


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


def run_seeds(label: str, values: dict, train_one: Callable[[int, torch.Generator, Path], tuple[dict, list]],
              runs_dir: str | Path, metrics_path: str | Path, provenance_path: str | Path, *, summary: dict,
              data: dict, setting: str, started: float, device: torch.device, extra: dict | None = None) -> dict:
    """Every seed of one variant. train_one(seed, generator, seed_dir) -> (per-seed metrics, history rows);
    summary maps each per-seed metric to summarise to its bounds (e.g. (0, 1) for accuracies)."""
    per_seed, seconds = [], {}
    with atomic_path(runs_dir, directory=True) as tmp:
        for seed in values["train"]["seeds"]:
            generator = seed_everything(seed)
            seed_dir = tmp / f"seed{seed}"
            seed_dir.mkdir()
            run, history = train_one(seed, generator, seed_dir)
            run = {"seed": seed, **run}
            seconds[f"seed{seed}"] = write_history(seed_dir / "history.csv", history, float_format="%.6g")
            write_json(seed_dir / "metrics.json", run)
            per_seed.append(run)
            log.info("%s seed %d: %s", label, seed, ", ".join(f"{k} {run[k]:.4f}" for k in summary))
    metrics = {k: mean_ci95((r[k] for r in per_seed), bounds=b) for k, b in summary.items()}
    metrics.update(per_seed=per_seed, data=data, params=values, setting=setting, **(extra or {}))
    write_json(metrics_path, metrics)
    write_json(provenance_path, provenance(values, device, time.perf_counter() - started, train_seconds=seconds))
    return metrics


def schedule_text(t: dict) -> str:
    return f"{t['optimizer']} {t['lr']:g}, {t['lr_schedule']} schedule, {t['epochs']} epochs, batch {t['batch_size']}"
