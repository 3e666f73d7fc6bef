"""Image classification on Fashion-MNIST and CIFAR-10: one runner for MLPs and CNNs.

The families fmnist-mlp-grid, fmnist-cnn, cifar-cnn and cifar-augment (and cifar-transfer's
fine-tuning) differ only in their params: `data` (validation split, optional subset of the
training images), `model` (kind mlp, simple or strong), `train` (optimiser, steps or epochs)
and, for augmentation, `augment`. train() trains every seed of one variant, tests the weights
of the best validation epoch once, and writes runs/, metrics.json and provenance.json.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

from dlrepro.io import load_arrays, read_json
from dlrepro.models import cnn
from dlrepro.models.mlp import MLP
from dlrepro.train import seeds
from dlrepro.train.augment import Augmented
from dlrepro.train.engine import Split, fit, stage_device

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs every training stage 0.2 s to start

ARRAYS = ("train_x", "train_y", "test_x", "test_y")
N_CLASSES = 10
# Input scaling per dataset: Fashion-MNIST in [0, 1] as the MLP write-ups; CIFAR-10 in [-1, 1]
# as the augmentation write-up (brightness factors apply to the [0, 1] intensities).
SYMMETRIC = {"fashion_mnist": False, "cifar10": True}


def to_tensor(images: np.ndarray, dataset: str, device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(images)
    if x.ndim == 3:
        x = x[:, None]  # grey images get a channel axis
    x = x.to(device).float().div_(255)
    return x.mul_(2).sub_(1) if SYMMETRIC[dataset] else x


def holdout_count(size: int | float, n: int) -> int:
    """A held-out count given as a count, or as a fraction (below 1) of the n examples."""
    return round(size * n) if isinstance(size, float) else size


def split_indices(n_train: int, data: dict) -> dict[str, torch.Tensor]:
    """Validation, labelled-training and remaining (unlabelled) indices into the training set.

    One permutation by split_seed, the same for every training seed and every variant:
    val_size images validate, then n_train (null: all the rest) train; what is left is the
    unlabelled pool of the transfer experiment.
    """
    val_size, n_labelled = holdout_count(data["val_size"], n_train), data.get("n_train")
    if not 0 < val_size < n_train:
        raise ValueError(f"data.val_size {val_size} must be between 1 and the {n_train - 1} training images")
    if n_labelled is not None and n_labelled > n_train - val_size:
        raise ValueError(f"data.n_train {n_labelled} exceeds the {n_train - val_size} images left after validation")
    order = torch.randperm(n_train, generator=torch.Generator().manual_seed(data["split_seed"]))
    end = n_train if n_labelled is None else val_size + n_labelled
    return {"val": order[:val_size], "train": order[val_size:end], "unlabelled": order[end:]}


def load_splits(data_dir: str | Path, data: dict, device: torch.device):
    """Train, validation (held out of the training set) and test splits, plus the unlabelled images."""
    arrays = load_arrays(data_dir, list(ARRAYS))
    meta = read_json(Path(data_dir) / "meta.json")
    dataset = meta["dataset"]
    idx = split_indices(len(arrays["train_y"]), data)
    x_all = to_tensor(arrays["train_x"], dataset, device)
    y_all = torch.from_numpy(arrays["train_y"].astype(np.int64)).to(device)

    def part(name: str) -> Split:
        i = idx[name].to(device)
        return Split(x_all[i], y_all[i])

    test = Split(to_tensor(arrays["test_x"], dataset, device),
                 torch.from_numpy(arrays["test_y"].astype(np.int64)).to(device))
    return part("train"), part("val"), test, part("unlabelled"), meta


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


def schedule_text(t: dict) -> str:
    length = f"{t['steps']} steps" if t.get("steps") else f"{t['epochs']} epochs"
    return f"{t['optimizer']} {t['lr']:g}, {t['lr_schedule']} schedule, {length}, batch {t['batch_size']}"


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
          provenance_path: str | Path, label: str) -> dict:
    """Every seed of one variant of an MLP/CNN family (augmenting training batches if asked)."""
    started = time.perf_counter()
    device = stage_device(runtime)
    train_split, val_split, test_split, _, meta = load_splits(data_dir, values["data"], device)
    ops = values.get("augment", {}).get("ops", [])

    def build(seed: int):
        model = build_model(values["model"], tuple(train_split.x.shape[1:])).to(device)
        if not ops:
            return model, model, {}
        # Its own stream, seeded per training seed: augmentation draws never shift batch order.
        generator = torch.Generator(device).manual_seed(10_000 + seed)
        return model, Augmented(model, ops, values["augment"], generator), {}

    setting = f"{describe_model(values['model'])}; {schedule_text(values['train'])}"
    if ops:
        setting += f"; augmentation {' + '.join(ops)}"
    return run_seeds(label, (train_split, val_split, test_split), values, build, runs_dir, metrics_path,
                     provenance_path, data_info(meta, train_split, val_split, test_split), setting, started, device)


def summarize(results_dir: str | Path, variants: list[str], tmp: Path, title: str) -> pd.DataFrame:
    """results.csv, a bar chart and validation curves of all variants, written into tmp."""
    from dlrepro.report import image_figures

    table = image_figures.results_table(results_dir, variants)
    table.to_csv(tmp / "results.csv", index=False, float_format="%.6f")
    image_figures.bars(table, tmp / "accuracy.png", f"{title}: test accuracy over seeds")
    image_figures.curves(results_dir, variants, tmp / "curves.png", f"{title}: validation accuracy")
    return table


def dataset_samples(data_dir: str | Path, path: Path, title: str) -> None:
    from dlrepro.report import image_figures

    arrays = load_arrays(data_dir, ["train_x", "train_y"])
    meta = read_json(Path(data_dir) / "meta.json")
    image_figures.class_samples(arrays["train_x"], arrays["train_y"], meta["classes"], path,
                                f"{title} ({meta['source']}): training images per class")
