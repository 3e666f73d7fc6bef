"""REFERENCE.md cifar-cnn: conv 16@2x2, pool, conv 32@2x2, pool, dense 100, 10 on CIFAR-10
(Adam 1e-2, 5 x 2,501 steps), beside this project's stronger small CNN in the same budget."""

from __future__ import annotations

from pathlib import Path

from dlrepro.experiments.classify import dataset_samples, summarize as summarize_variants, train  # noqa: F401
from dlrepro.io import atomic_path


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], out: str | Path):
    with atomic_path(out, directory=True) as tmp:
        table = summarize_variants(results_dir, variants, tmp, "cifar-cnn")
        dataset_samples(data_dir, tmp / "samples.png", "CIFAR-10")
    return table
