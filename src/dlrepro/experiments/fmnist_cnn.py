"""REFERENCE.md fmnist-cnn: conv 28@3x3, pool, conv 56@3x3, pool, dense 100, 10 on Fashion-MNIST
(Adam 1e-2, batch 128, 2,501 steps), beside this project's stronger small CNN in the same budget."""

from __future__ import annotations

from pathlib import Path

from dlrepro.experiments.classify import summarize as summarize_variants, train  # noqa: F401
from dlrepro.io import atomic_path


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], out: str | Path):
    with atomic_path(out, directory=True) as tmp:
        return summarize_variants(results_dir, variants, tmp, "fmnist-cnn")
