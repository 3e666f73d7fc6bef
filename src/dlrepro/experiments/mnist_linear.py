"""REFERENCE.md mnist-linear: softmax regression from zero weights, SGD lr 0.2, batch 128, 1,000 steps."""

from __future__ import annotations

from pathlib import Path

from dlrepro.data import mnist
from dlrepro.models.mlp import MLP
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import epoch_batches, fit_steps
from dlrepro.train.seeds import run_on_splits


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    t = values["train"]

    def train_one(seed, generator, train_split, val_split):
        model = MLP(28 * 28, [], mnist.N_CLASSES, init="zeros").to(train_split.x.device)
        batches = epoch_batches(len(train_split), t["batch_size"], t["steps"], generator)
        history = fit_steps(model, train_split, val_split, batches, optimizer="sgd", lr=t["lr"],
                            eval_every=t["eval_every"], desc=f"{label} seed {seed}")
        return model, history, {"steps": t["steps"]}

    return run_on_splits(data_dir, t, runtime, runs_dir, metrics_path, provenance_path, label,
                         train_one, trained_with={"train": t},
                         setting=f"softmax regression from zero weights; SGD {t['lr']:g}, batch {t['batch_size']}, "
                                 f"{t['steps']} steps, reshuffled every epoch; the last weights are tested")


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> None:
    """variants.json and each variant's training curves."""
    from dlrepro.report import figures

    with summary_folder(out_dir, results_dir, variants) as tmp:
        figures.variant_training_curves(results_dir, variants, "mnist-linear", tmp)
