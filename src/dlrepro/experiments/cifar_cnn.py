"""REFERENCE.md cifar-cnn: conv 16@2x2, pool, conv 32@2x2, pool, dense 100, 10 on CIFAR-10
(Adam 1e-2, 5 x 2,501 steps), beside this project's stronger small CNN in the same budget."""

from __future__ import annotations

from pathlib import Path

from dlrepro.report.summary import summary_folder
from dlrepro.train.classify import train  # noqa: F401  (the family's train stage)


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None):
    from dlrepro.report import image_figures

    with summary_folder(out_dir, results_dir, variants) as tmp:
        table = image_figures.summarize_variants(results_dir, variants, tmp, "cifar-cnn")
        image_figures.dataset_samples(data_dir, tmp / "samples.png", "CIFAR-10")
    return table
