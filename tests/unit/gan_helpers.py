"""Made-up digits, a stand-in judge folder and small settings for the GAN families' tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dlrepro.io import save_arrays, write_json
from dlrepro.models import cnn

JUDGE_PARAMS = {"data": {"val_size": 20, "split_seed": 0, "n_train": None},
                "model": {"kind": "simple", "convs": [[4, 5], [8, 5]], "dense": [16], "widths": [8], "depth": 1}}


def templates(classes: int = 10) -> torch.Tensor:
    """One 28x28 pattern per class: a bright 8x8 square, each class at its own place (all of them
    overlap the centre rows and columns 9..18 differently)."""
    out = torch.zeros(classes, 1, 28, 28)
    for c in range(classes):
        r, k = 4 + 3 * (c // 5) * 2, 4 + 3 * (c % 5)
        out[c, 0, r:r + 8, k:k + 8] = 1.0
    return out


def toy_digits(n: int, seed: int = 0, noise: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """n images of the class templates with a little noise, labels cycling through the classes."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = (templates()[labels] + noise * torch.randn(n, 1, 28, 28, generator=g)).clamp(0, 1)
    return images, labels


def toy_data_dir(folder: Path, n_train: int = 240, n_test: int = 120) -> Path:
    """A data/mnist-like folder of toy digits (uint8 arrays and meta.json)."""
    train_x, train_y = toy_digits(n_train, 0)
    test_x, test_y = toy_digits(n_test, 1)
    as_bytes = lambda x: (x[:, 0] * 255).round().to(torch.uint8).numpy()  # noqa: E731
    save_arrays(folder, {"train_x": as_bytes(train_x), "train_y": train_y.numpy().astype(np.uint8),
                         "test_x": as_bytes(test_x), "test_y": test_y.numpy().astype(np.uint8)},
                {"dataset": "mnist", "source": "embedded", "classes": [str(c) for c in range(10)]})
    return folder


def judge_folder(folder: Path) -> Path:
    """An untrained judge CNN saved as a mnist-judge variant's folder (what Judge reads)."""
    torch.manual_seed(0)
    model = cnn.build(JUDGE_PARAMS["model"], 1, 28, 10)
    (folder / "runs" / "seed0").mkdir(parents=True)
    torch.save(model.state_dict(), folder / "runs" / "seed0" / "model.pt")
    write_json(folder / "provenance.json", {"params": JUDGE_PARAMS, "per_seed": [{"seed": 0, "test_accuracy": 0.5}]})
    return folder


@pytest.fixture(autouse=False)
def one_thread():
    """Small models on one thread (on a busy 2-core machine, two threads of tiny matrix products
    wait on each other far longer than they compute); the previous count restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


MODEL = {"noise": 8, "generator": [32], "discriminator": [32], "batchnorm": True, "dropout": 0.0, "slope": 0.2,
         "condition_scale": 1.0}
TRAIN = {"epochs": 3, "batch_size": 32, "lr": 0.002, "betas": [0.5, 0.999], "checkpoint_every": 2, "mismatch": True,
         "seeds": [0, 1]}
RUNTIME = {"device": "cpu", "threads": 1}
