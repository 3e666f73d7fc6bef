"""The CIFAR-10 subset of the local mirror, read as a user's local copy, through the real code paths.

The subset (4,000 training and 1,000 test images in the upstream python layout) is not the
official archive, so it is read with source local. The training tests use short schedules (a few
CPU minutes each); the README records the longer runs.
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
SMALL_STRONG = {"widths": [16, 32, 64], "depth": 1}


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


def train(project, experiment, variant, *extra):
    out = f"r/{experiment}/{variant}"
    run(project, "dlrepro", "train", experiment, "--profile", "full", "--variant", variant, "--data", "data/cifar10",
        "--runs", f"{out}/runs", "--metrics", f"{out}/metrics.json", "--provenance", f"{out}/provenance.json", *extra)
    return json.loads((project / out / "metrics.json").read_text())


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


def test_augmentation_beats_none_on_the_subset_beyond_the_seed_spread(project, subset):
    def short(p):
        p["cifar_augment"]["profiles"]["full"] = {
            "data": {"val_size": 500}, "model": SMALL_STRONG,
            "train": {"batch_size": 64, "epochs": 12, "seeds": [0, 1, 2]},
            "variants": {v: {"train": {"epochs": 12}} for v in p["cifar_augment"]["variants"] if v.startswith("strong")}}

    use_subset(project, subset, short)
    none = train(project, "cifar-augment", "strong_none")
    both = train(project, "cifar-augment", "strong_all")
    spread = max(none["test_accuracy"]["std"], both["test_accuracy"]["std"])
    assert both["data"]["n_train"] == 3500
    assert both["test_accuracy"]["mean"] - none["test_accuracy"]["mean"] > 2 * spread


def test_transfer_beats_scratch_on_500_labelled_images(project, subset):
    def short(p):
        p["cifar_transfer"]["profiles"]["full"] = {
            "data": {"val_size": 500}, "model": SMALL_STRONG,
            "pretext": {"val_size": 300, "train": {"epochs": 4, "batch_size": 128, "seeds": [0, 1]}},
            "train": {"epochs": 30, "seeds": [0, 1]}}

    use_subset(project, subset, short)
    run(project, "dlrepro", "pretrain", "cifar-transfer", "--profile", "full", "--data", "data/cifar10",
        "--runs", "r/pretext/runs", "--metrics", "r/pretext/metrics.json", "--provenance", "r/pretext/provenance.json")
    pretext = json.loads((project / "r/pretext/metrics.json").read_text())
    assert pretext["test_accuracy"]["mean"] > 0.6  # chance is 1/3
    scratch = train(project, "cifar-transfer", "scratch")
    tuned = train(project, "cifar-transfer", "trunk_lr_0_1", "--pretrained", "r/pretext/runs")
    assert scratch["data"]["n_train"] == tuned["data"]["n_train"] == 500
    assert tuned["test_accuracy"]["mean"] > scratch["test_accuracy"]["mean"]
