"""REFERENCE.md fmnist-cnn: conv 28@3x3, pool, conv 56@3x3, pool, dense 100, 10 on Fashion-MNIST
(Adam 1e-2, batch 128, 2,501 steps), beside this project's stronger small CNN in the same budget."""

from __future__ import annotations

from pathlib import Path

from dlrepro.report.summary import summary_folder
from dlrepro.train.classify import train  # noqa: F401  (the family's train stage)


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None):
    from dlrepro.report import image_figures

    with summary_folder(out_dir, results_dir, variants) as tmp:
        return image_figures.summarize_variants(results_dir, variants, tmp, "fmnist-cnn")
