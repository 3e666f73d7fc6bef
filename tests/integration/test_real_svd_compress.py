"""The compression family on real MNIST from the mirror, with a short schedule: one seed, one epoch."""

from __future__ import annotations

import json

import pytest

from dlrepro.train.provenance import read_result
from tests.integration.test_pipeline import edit_params, run

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_svd_sweep_shape_and_finetuning_on_real_mnist(project, mirror):
    def short(p):
        p["runtime"]["threads"] = 1  # faster on a shared CPU; the assertions hold for any thread count
        p["mnist_mlp"]["train"].update(epochs=2, seeds=[0])
        p["svd_compress"]["finetune"]["epochs"] = 1

    edit_params(project, short)
    env = {"DLREPRO_MIRROR": str(mirror)}
    run(project, "dlrepro", "data", "mnist", "--profile", "full", "--out", "data/mnist", env=env)
    base = "results/mnist_mlp/variants/default"
    run(project, "dlrepro", "train", "mnist-mlp", "--profile", "full", "--data", "data/mnist", "--runs", f"{base}/runs",
        "--metrics", f"{base}/metrics.json", "--provenance", f"{base}/provenance.json")
    results = {}
    for variant in ("svd_d10", "svd_d20", "svd_d50", "svd_full", "finetune_d20"):
        out = f"results/svd_compress/variants/{variant}"
        run(project, "dlrepro", "train", "svd-compress", "--variant", variant, "--profile", "full",
            "--data", "data/mnist", "--upstream", base, "--runs", f"{out}/runs", "--metrics", f"{out}/metrics.json",
            "--provenance", f"{out}/provenance.json")
        results[variant] = read_result(project / out)
    baseline = json.loads((project / f"{base}/metrics.json").read_text())["test_accuracy"]["mean"]
    acc = {v: m["test_accuracy"]["mean"] for v, m in results.items()}
    assert results["svd_full"]["data"]["source"] == "download" and baseline >= 0.96
    # The original's shape: rank 10 far below rank 50, full rank equal to the baseline.
    assert acc["svd_d10"] < acc["svd_d50"] - 0.05
    assert acc["svd_full"] == pytest.approx(baseline, abs=2e-4)
    # Fine-tuning the factorised rank-20 network (all parameters, one epoch) recovers most of the loss
    # (0.978 after the full profile's 20-epoch baseline and 3 epochs; here 2 and 1).
    assert acc["finetune_d20"] >= 0.955 and acc["finetune_d20"] > acc["svd_d20"] + 0.01
    assert results["finetune_d20"]["size_pct"]["mean"] < 5
