"""The judge of the generative families: a small CNN trained on real MNIST training images.

vae-sevens, pixel-rnn, cgan-label, cgan-center and gan-impute start from it (their upstream):
its first seed reads their generated, completed and imputed digits (train.generative.Judge),
for accuracy against the label a digit should have and a Fréchet distance in its penultimate
features. Its page shows how good a reader it is: test accuracy over seeds, and the real-vs-real
Fréchet distance (two halves of the test set), the floor of every generated sample's distance.
"""

from __future__ import annotations

from pathlib import Path

from dlrepro.report.summary import summary_folder
from dlrepro.train.classify import train  # noqa: F401  (the family's train stage)


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None):
    """results.csv, the accuracy bars and curves, and floors.csv: each variant's judge (its
    first seed) on real test digits: accuracy and the real-vs-real Fréchet distance."""
    import pandas as pd

    from dlrepro.report import image_figures
    from dlrepro.train.engine import start_stage
    from dlrepro.train.generative import Judge, real_reference
    from dlrepro.train.splits import load_splits

    _, device = start_stage(runtime)
    rows = []
    for v in variants:
        judge = Judge(Path(results_dir) / v, f"mnist-judge {v}", device)
        _, _, test, _, _ = load_splits(data_dir, judge.params["data"], device)
        real = real_reference(judge, test.x, test.y)
        rows.append({"variant": v, "judge_seed": judge.seed, "test_accuracy": judge.accuracy(test.x, test.y),
                     "frechet_floor": real.floor, "half_size": real.n, "real_diversity": real.diversity,
                     "features": real.reference.shape[1]})
    with summary_folder(out_dir, results_dir, variants) as tmp:
        pd.DataFrame(rows).to_csv(tmp / "floors.csv", index=False, float_format="%.6f")
        return image_figures.summarize_variants(results_dir, variants, tmp, "mnist-judge")
