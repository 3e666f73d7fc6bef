"""Real MNIST through the real download path, read from the local mirror (DLREPRO_MIRROR)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlrepro.train.provenance import read_result
from tests.integration.test_pipeline import edit_params, run

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_download_verifies_and_parses_real_mnist(project, mirror):
    run(project, "dlrepro", "data", "mnist", "--profile", "full", "--out", "data/mnist",
        env={"DLREPRO_MIRROR": str(mirror)})
    meta = json.loads((project / "data/mnist/meta.json").read_text())
    assert meta["source"] == "download"
    assert meta["shapes"] == {"train_x": [60000, 28, 28], "train_y": [60000], "test_x": [10000, 28, 28],
                              "test_y": [10000]}
    # Published class counts of the MNIST test set.
    assert meta["class_counts"]["test_y"] == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    x = np.load(project / "data/mnist/train_x.npy")
    assert x.dtype == np.uint8 and x.max() == 255 and 30 < x.mean() < 40


def test_short_schedule_on_real_mnist_reaches_095(project, mirror):
    def one_epoch(p):
        p["runtime"]["threads"] = 1  # two test workers share two cores: torch threads must not fight
        p["mnist_mlp"]["train"].update(epochs=1, seeds=[0])

    edit_params(project, one_epoch)
    env = {"DLREPRO_MIRROR": str(mirror)}
    run(project, "dlrepro", "data", "mnist", "--profile", "full", "--out", "data/mnist", env=env)
    run(project, "dlrepro", "train", "mnist-mlp", "--profile", "full", "--data", "data/mnist", "--runs", "runs",
        "--metrics", "metrics.json", "--provenance", "provenance.json")
    result = read_result(project)
    assert result["data"] == {"source": "download", "n_train": 55000, "n_val": 5000, "n_test": 10000}
    assert result["test_accuracy"]["mean"] >= 0.95


def test_mlp_grid_pattern_on_real_mnist(project, mirror):
    """The original's pattern with a short schedule (5 epochs, cosine, one seed): sigmoid + N(0, 0.01)
    + plain SGD never leaves chance, while ReLU + He + Adam passes 0.98."""
    def short(p):
        p["runtime"]["threads"] = 1
        p["mlp_ablation"]["train"].update(epochs=5, lr_schedule="cosine", seeds=[0])

    edit_params(project, short)
    env = {"DLREPRO_MIRROR": str(mirror)}
    run(project, "dlrepro", "data", "mnist", "--profile", "full", "--out", "data/mnist", env=env)
    accuracy = {}
    for variant in ("sigmoid_normal_sgd", "relu_he_normal_adam"):
        out = project / "results" / variant
        run(project, "dlrepro", "train", "mlp-ablation", "--variant", variant, "--profile", "full", "--data",
            "data/mnist", "--runs", str(out / "runs"), "--metrics", str(out / "metrics.json"), "--provenance",
            str(out / "provenance.json"))
        result = read_result(out)
        assert result["data"]["source"] == "download" and result["params"]["model"]["width"] == 512
        accuracy[variant] = result["test_accuracy"]["mean"]
    assert accuracy["sigmoid_normal_sgd"] <= 0.2, accuracy  # chance: 0.1135 predicts the most frequent digit
    assert accuracy["relu_he_normal_adam"] >= 0.98, accuracy
