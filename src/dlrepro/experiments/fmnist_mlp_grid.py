"""REFERENCE.md fmnist-mlp-grid: MLPs on Fashion-MNIST, SGD 0.1, 1,000 steps, batch 128.

Variants cross the architecture (1x500, 1x50, 500-50), the activation (ReLU, sigmoid,
tanh) and initialiser (U(-0.1, 0.1) or N(0, 0.2^2)); training is the shared runner's.
"""

from __future__ import annotations

from pathlib import Path

from dlrepro.report.summary import summary_folder
from dlrepro.train.classify import train  # noqa: F401  (the family's train stage)
from dlrepro.train.provenance import read_result


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None):
    from dlrepro.report import image_figures

    with summary_folder(out_dir, results_dir, variants) as tmp:
        table = image_figures.summarize_variants(results_dir, variants, tmp, "fmnist-mlp-grid")
        params = [read_result(Path(results_dir) / v)["params"]["model"] for v in variants]
        table["hidden"] = ["→".join(map(str, p["hidden"])) for p in params]
        table["activation"] = [p["activation"] for p in params]
        table["init"] = [f"{p['init']}({p['init_scale']:g})" for p in params]
        table.to_csv(tmp / "results.csv", index=False, float_format="%.6f")
        # Activation (rows) x architecture and initialiser (columns): the whole grid in one map.
        table["hidden, init"] = table["hidden"] + ", " + table["init"]
        grid = table.pivot_table(index="activation", columns="hidden, init", values="test_accuracy", sort=False)
        image_figures.heatmap(grid, tmp / "grid.png", "test accuracy (mean over seeds)")
        table = table.drop(columns="hidden, init")
        image_figures.dataset_samples(data_dir, tmp / "samples.png", "Fashion-MNIST")
    return table
