"""Real MNIST through the real download path, read from the local mirror (DLREPRO_MIRROR).

Training on it is tested through the real profile (test_real_profile.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.integration.test_pipeline import run

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

