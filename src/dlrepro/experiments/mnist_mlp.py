"""REFERENCE.md mnist-mlp: 784 -> 5x[1024 ReLU] -> 10, He init, Adam, batch 200, on MNIST.

train(): every seed of one variant; the weights of the best validation epoch are tested once.
summarize(): every variant's results, and PCA, t-SNE and a linear probe of the input and of every
hidden layer of the default variant's first seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dlrepro.models.mlp import from_section, layer_features
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import fit, start_stage
from dlrepro.train.seeds import run_on_splits
from dlrepro.train.splits import load_splits
from dlrepro.train.trained import TrainedMLP

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs every training stage 0.2 s to start

ANALYSED = "default"  # the variant whose layers summarize() analyses


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    t = values["train"]

    def train_one(seed, generator, train_split, val_split):
        model = from_section(values["model"]).to(train_split.x.device)
        result = fit(model, train_split, val_split, epochs=t["epochs"], batch_size=t["batch_size"],
                     optimizer=t["optimizer"], lr=t["lr"], lr_schedule=t["lr_schedule"],
                     generator=generator, desc=f"{label} seed {seed}")
        model.load_state_dict(result.best_state)
        return model, result.history, {"best_epoch": result.best_epoch, "epochs": t["epochs"]}

    # The analysis values do not affect training.
    return run_on_splits(data_dir, t, runtime, runs_dir, metrics_path, provenance_path, label, train_one,
                         trained_with={"model": values["model"], "train": t},
                         setting=f"{t['optimizer']} {t['lr']:g}, {t['lr_schedule']} schedule, {t['epochs']} epochs, "
                                 f"batch {t['batch_size']}; the best validation epoch is tested")


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> pd.DataFrame:
    """variants.json, each variant's training curves, and the layer analysis of the default variant."""
    from dlrepro.report import figures

    results_dir = Path(results_dir)
    with summary_folder(out_dir, results_dir, variants) as tmp:
        figures.variant_training_curves(results_dir, variants, "mnist-mlp", tmp)
        return analyze(data_dir, results_dir / ANALYSED, values["analysis"], runtime, tmp)


def analyze(data_dir: str | Path, variant_dir: Path, a: dict, runtime: dict, tmp: Path) -> pd.DataFrame:
    """PCA and t-SNE maps and a linear probe per layer of the first seed's model of a trained variant."""
    import pandas as pd
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.manifold import TSNE
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from dlrepro.report import figures

    _, device = start_stage(runtime)
    trained = TrainedMLP(variant_dir, "mnist-mlp summarize")
    train_split, _, test_split, _, _ = load_splits(data_dir, trained.params["train"], device)
    seed = trained.seeds[0]
    model = trained.model(seed, device)

    rng = np.random.default_rng(0)
    shown = np.sort(rng.choice(len(test_split), size=min(a["n_images"], len(test_split)), replace=False))
    probe_fit = np.sort(rng.choice(len(train_split), size=min(a["probe_train_size"], len(train_split)), replace=False))
    test_feats = layer_features(model, test_split.x)
    fit_feats = layer_features(model, train_split.x[torch.from_numpy(probe_fit).to(device)])
    test_y = test_split.y.cpu().numpy()
    fit_y = train_split.y.cpu().numpy()[probe_fit]
    names = ["input"] + [f"hidden {i + 1}" for i in range(len(test_feats) - 1)]

    pca_maps, tsne_maps, rows = [], [], []
    for name, feats, fit_x in zip(names, test_feats, fit_feats):
        shown_x = feats[shown]
        pca = PCA(n_components=min(50, shown_x.shape[1]), random_state=0).fit(shown_x)
        reduced = pca.transform(shown_x)
        pca_maps.append(reduced[:, :2])
        # t-SNE on the 50 leading principal components, the usual speed-up; same map quality.
        tsne_maps.append(TSNE(perplexity=min(a["tsne_perplexity"], (len(shown) - 1) / 3), init="pca",
                              random_state=0).fit_transform(reduced))
        # The probe is fit on training images and scored on the whole test set.
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
        probe.fit(fit_x, fit_y)
        rows.append({"layer": name, "units": feats.shape[1],
                     "probe_accuracy": float(probe.score(feats, test_y)),
                     "pca2_explained_variance": float(pca.explained_variance_ratio_[:2].sum())})
    table = pd.DataFrame(rows)
    table.to_csv(tmp / "probes.csv", index=False, float_format="%.6f")
    np.save(tmp / "pca.npy", np.stack(pca_maps).astype(np.float32))
    np.save(tmp / "tsne.npy", np.stack(tsne_maps).astype(np.float32))
    np.save(tmp / "labels.npy", test_y[shown])
    figures.embedding_grid(np.stack(pca_maps), test_y[shown], names, tmp / "pca.png",
                           f"PCA of {len(shown)} test images, per layer (seed {seed})")
    figures.embedding_grid(np.stack(tsne_maps), test_y[shown], names, tmp / "tsne.png",
                           f"t-SNE (perplexity {a['tsne_perplexity']}) of {len(shown)} test images (seed {seed})")
    figures.probe_accuracy(table, tmp / "probes.png", "linear probe per layer")
    return table
