"""The CIFAR-10 subset of the local mirror, read as a user's local copy, through the real code paths.

The subset (4,000 training and 1,000 test images in the upstream python layout) is not the
official archive, so it is read with source local. Training on it with the full profile (about an
hour of CPU per family) is recorded in the README: augmentation beats none by 4 points, transfer
beats scratch by 1 point. That is too long for CI, so the tests here check the data path.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.integration.test_pipeline import edit_params, run

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
SUBSET_SHA256 = {
    "batches.meta": "7594afefea73e03415113478028c0e293e71fa7832a85d7dabf03c172086a10b",
    "data_batch_1": "3312454ae3579a464babde75216708673e8f75a760dcff6afe09f9cce18c130b",
    "test_batch": "eba30c0ed75c6637beb2ff219a8d0568e77eb77f48b8a4270dd1819d967f78c1",
}


@pytest.fixture
def subset(mirror):
    folder = mirror / "cifar-10-subset"
    if not (folder / "cifar-10-batches-py").is_dir():
        pytest.skip(f"no CIFAR-10 subset in the mirror at {folder}")
    return folder


def use_subset(project, subset, change=None):
    def edit(p):
        p["cifar10"]["profiles"]["full"] = {"source": "local", "local_path": str(subset)}
        p["runtime"]["threads"] = 2
        if change:
            change(p)

    edit_params(project, edit)
    run(project, "dlrepro", "data", "cifar10", "--profile", "full", "--out", "data/cifar10")


def test_local_subset_is_validated_and_read(project, subset):
    use_subset(project, subset)
    meta = json.loads((project / "data/cifar10/meta.json").read_text())
    assert meta["source"] == "local" and meta["files"]["batches"] == ["data_batch_1"]
    assert {k: v["sha256"] for k, v in meta["files"]["files"].items()} == SUBSET_SHA256
    assert not any(v["matches_upstream"] for v in meta["files"]["files"].values())  # a subset, not upstream
    assert meta["shapes"]["train_x"] == [4000, 3, 32, 32] and meta["shapes"]["test_x"] == [1000, 3, 32, 32]
    assert meta["classes"][:3] == ["airplane", "automobile", "bird"]
    x = np.load(project / "data/cifar10/test_x.npy")
    assert x.dtype == np.uint8 and 100 < x.mean() < 140  # real photographs, not the generated scenes
