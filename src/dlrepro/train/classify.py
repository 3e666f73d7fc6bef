"""Image classification on Fashion-MNIST and CIFAR-10: one runner for MLPs and CNNs.

The families fmnist-mlp-grid, fmnist-cnn, cifar-cnn and cifar-augment (and cifar-transfer's
fine-tuning) differ only in their params: `data` (validation split, optional subset of the
training images), `model` (kind mlp, simple or strong), `train` (optimiser, steps or epochs)
and, for augmentation, `augment`. train() trains every seed of one variant, tests the weights
of the best validation epoch once, and writes runs/, metrics.json and provenance.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from dlrepro.models import cnn
from dlrepro.models.mlp import MLP
from dlrepro.train import seeds
from dlrepro.train.augment import augmented
from dlrepro.train.engine import Split, fit, schedule_text, start_stage
from dlrepro.train.splits import load_splits

N_CLASSES = 10


def init_mlp(model: MLP, init: str, scale: float) -> None:
    """Weights from U(-scale, scale) or N(0, scale^2), biases zero (the write-ups' initialisers)."""
    for layer in [*model.hidden, model.out]:
        if init == "uniform":
            nn.init.uniform_(layer.weight, -scale, scale)
        elif init == "normal":
            nn.init.normal_(layer.weight, 0.0, scale)
        else:
            raise ValueError(f"unknown init {init!r} (uniform, normal)")
        nn.init.zeros_(layer.bias)


def build_model(values: dict, shape: tuple[int, ...]) -> nn.Module:
    if values["kind"] == "mlp":
        model = MLP(int(np.prod(shape)), values["hidden"], N_CLASSES, values["activation"], init="torch")
        init_mlp(model, values["init"], values["init_scale"])
        return model
    return cnn.build(values, shape[0], shape[-1], N_CLASSES)


def describe_model(values: dict) -> str:
    if values["kind"] == "mlp":
        return f"MLP {'→'.join(map(str, values['hidden']))} {values['activation']}, init {values['init']}({values['init_scale']:g})"
    if values["kind"] == "simple":
        convs = " → ".join(f"conv {c}@{k}×{k} → pool" for c, k in values["convs"])
        return f"CNN {convs} → dense {'→'.join(map(str, values['dense']))}"
    return f"strong CNN widths {values['widths']} × depth {values['depth']}, BatchNorm"


# build(seed) -> (the model to save and test, the module fit() trains, extra fit() arguments)
Builder = Callable[[int], tuple[nn.Module, nn.Module, dict]]


def run_seeds(label: str, splits: tuple[Split, Split, Split], values: dict, build: Builder,
              runs_dir: str | Path, metrics_path: str | Path, provenance_path: str | Path,
              data_info: dict, setting: str, started: float, device: torch.device,
              save: Callable[[nn.Module, Path], None] | None = None) -> dict:
    """Train every seed on values["train"], test each seed's best-validation-epoch weights once."""
    train_split, val_split, test_split = splits
    t = values["train"]

    def train_one(seed: int, generator: torch.Generator, seed_dir: Path):
        model, trained, extra = build(seed)
        result = fit(trained, train_split, val_split, epochs=t["epochs"], batch_size=t["batch_size"],
                     optimizer=t["optimizer"], lr=t["lr"], lr_schedule=t["lr_schedule"], generator=generator,
                     desc=f"{label} seed {seed}", max_steps=t.get("steps"), **extra)
        trained.load_state_dict(result.best_state)
        (save or (lambda m, d: torch.save(m.state_dict(), d / "model.pt")))(model, seed_dir)
        return ({"best_epoch": result.best_epoch, "epochs": len(result.history),
                 **seeds.tested(model, val_split, test_split)}, result.history)

    # Counted on a throwaway build: run_seeds seeds torch before every build it trains.
    n_parameters = cnn.n_parameters(build(t["seeds"][0])[0])
    return seeds.run_seeds(label, t["seeds"], train_one, runs_dir, metrics_path, provenance_path,
                           summary=seeds.ACCURACY, params=dict(values), data=data_info, setting=setting,
                           started=started, device=device, extra={"n_parameters": n_parameters})


def data_info(meta: dict, train: Split, val: Split, test: Split, **extra) -> dict:
    return {"source": meta["source"], "dataset": meta["dataset"], "n_train": len(train), "n_val": len(val),
            "n_test": len(test), **extra}


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    """Every seed of one variant of an MLP/CNN family (augmenting training batches if asked; no upstream stage)."""
    started, device = start_stage(runtime)
    train_split, val_split, test_split, _, meta = load_splits(data_dir, values["data"], device)
    ops = values.get("augment", {}).get("ops", [])

    def build(seed: int):
        model = build_model(values["model"], tuple(train_split.x.shape[1:])).to(device)
        return model, augmented(model, values.get("augment", {}), seed), {}

    setting = f"{describe_model(values['model'])}; {schedule_text(values['train'])}"
    if ops:
        setting += f"; augmentation {' + '.join(ops)}"
    return run_seeds(label, (train_split, val_split, test_split), values, build, runs_dir, metrics_path,
                     provenance_path, data_info(meta, train_split, val_split, test_split), setting, started, device)
