"""The seed loop every training stage shares: train each seed, test it once, write the results.

run_seeds() calls train_one(seed, generator, seed_dir) for every seed, after seeding torch;
train_one trains, tests once, saves what it keeps into seed_dir and returns its per-seed
metrics and history rows. run_seeds writes runs/seed<k>/ (history.csv, metrics.json and what
train_one saved), then metrics.json (mean and 95% interval over seeds of every metric named in
`summary`, numbers only) and provenance.json (the run, and the per-seed metrics, `data`,
`params`, `setting`, extras). The runs folder appears whole or not at all.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import torch

from dlrepro.io import atomic_path, write_history, write_json
from dlrepro.train.engine import Split, evaluate, seed_everything, start_stage
from dlrepro.train.provenance import provenance
from dlrepro.train.splits import load_splits
from dlrepro.train.stats import mean_ci95

log = logging.getLogger(__name__)
ACCURACY = {"test_accuracy": (0, 1), "val_accuracy": (0, 1)}  # what a classifier's seeds are summarised by

# train_one(seed, generator, seed_dir) -> (per-seed metrics, history rows)
TrainOne = Callable[[int, torch.Generator, Path], tuple[dict, list[dict]]]


def run_seeds(label: str, seeds: list[int], train_one: TrainOne, runs_dir: str | Path, metrics_path: str | Path,
              provenance_path: str | Path, *, summary: dict, params: dict, data: dict, setting: str,
              started: float, device: torch.device, extra: dict | None = None,
              finish: Callable[[Path, dict[int, list[dict]]], None] | None = None) -> dict:
    """Every seed of one variant; summary maps each metric to summarise to its bounds ((0, 1) for
    accuracies). finish(runs_tmp, histories by seed), if given, adds files to the runs folder."""
    per_seed, histories, seconds = [], {}, {}
    with atomic_path(runs_dir, directory=True) as tmp:
        for seed in seeds:
            generator = seed_everything(seed)
            seed_dir = tmp / f"seed{seed}"
            seed_dir.mkdir()
            seed_started = time.perf_counter()
            run, history = train_one(seed, generator, seed_dir)
            # Seconds vary run to run: they go to provenance, so history.csv stays byte-stable.
            seconds[f"seed{seed}"] = round(time.perf_counter() - seed_started, 3)
            run = {"seed": seed, **run}
            write_history(seed_dir / "history.csv", history, float_format="%.6g")
            write_json(seed_dir / "metrics.json", run)
            per_seed.append(run)
            histories[seed] = history
            log.info("%s seed %d: %s", label, seed, ", ".join(f"{k} {run[k]:.4f}" for k in summary))
        if finish is not None:
            finish(tmp, histories)
    metrics = {k: mean_ci95((r[k] for r in per_seed), bounds=b) for k, b in summary.items()}
    write_json(metrics_path, metrics)
    write_json(provenance_path, provenance(params, device, time.perf_counter() - started, train_seconds=seconds,
                                           per_seed=per_seed, data=data, setting=setting, **(extra or {})))
    return metrics


def tested(model: torch.nn.Module, val: Split, test: Split) -> dict:
    """A classifier's per-seed metrics: accuracy and loss on the validation and test splits."""
    v, t = evaluate(model, val), evaluate(model, test)
    return {"val_accuracy": v["accuracy"], "val_loss": v["loss"], "test_accuracy": t["accuracy"], "test_loss": t["loss"]}


def run_on_splits(data_dir: str | Path, t: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
                  provenance_path: str | Path, label: str, train_one, *, trained_with: dict, setting: str,
                  save_models: bool = True) -> dict:
    """Every seed of one classifier variant on the image splits of t (val_size, split_seed), each tested once.

    train_one(seed, generator, train_split, val_split) -> (model to test, history rows, extra
    per-seed values). Each seed keeps model.pt unless save_models is false. Figures are the
    summary's: a training stage that drew would pay matplotlib's import (about 0.7 s) to start.
    """
    started, device = start_stage(runtime)
    train_split, val_split, test_split, _, data_meta = load_splits(data_dir, t, device)

    def one_seed(seed: int, generator: torch.Generator, seed_dir: Path):
        model, history, extra = train_one(seed, generator, train_split, val_split)
        if save_models:
            torch.save(model.state_dict(), seed_dir / "model.pt")
        return {**extra, **tested(model, val_split, test_split)}, history

    data = {"source": data_meta["source"], "n_train": len(train_split), "n_val": len(val_split),
            "n_test": len(test_split)}
    return run_seeds(label, t["seeds"], one_seed, runs_dir, metrics_path, provenance_path,
                     summary=ACCURACY, params=trained_with, data=data, setting=setting,
                     started=started, device=device)
