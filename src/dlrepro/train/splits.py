"""Image datasets as device tensors: one seeded split into train, validation, test (and unlabelled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlrepro.io import load_arrays, read_json
from dlrepro.train.engine import Split

ARRAYS = ("train_x", "train_y", "test_x", "test_y")
# Input scaling per dataset: MNIST and Fashion-MNIST in [0, 1] as the MLP write-ups; CIFAR-10 in
# [-1, 1] as the augmentation write-up (brightness factors apply to the [0, 1] intensities).
SYMMETRIC = {"mnist": False, "fashion_mnist": False, "cifar10": True}


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
    val_size images validate, then n_train (absent or null: all the rest) train; what is left is
    the unlabelled pool of the transfer experiment.
    """
    val_size, n_labelled = holdout_count(data["val_size"], n_train), data.get("n_train")
    if not 0 < val_size < n_train:
        raise ValueError(f"val_size {val_size} must be between 1 and the {n_train - 1} training images")
    if n_labelled is not None and n_labelled > n_train - val_size:
        raise ValueError(f"data.n_train {n_labelled} exceeds the {n_train - val_size} images left after validation")
    order = torch.randperm(n_train, generator=torch.Generator().manual_seed(data["split_seed"]))
    end = n_train if n_labelled is None else val_size + n_labelled
    return {"val": order[:val_size], "train": order[val_size:end], "unlabelled": order[end:]}


def load_splits(data_dir: str | Path, data: dict, device: torch.device):
    """Train, validation (held out of the training set) and test splits, the unlabelled images, meta.json.

    data holds val_size, split_seed and optionally n_train (see split_indices).
    """
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


def sort_by_label(split: Split) -> Split:
    """The training split stored class by class, as files often come (a stable sort keeps it seeded)."""
    order = torch.sort(split.y, stable=True).indices
    return Split(split.x[order], split.y[order])
