"""REFERENCE.md mnist-mlp: 784 -> 5x[1024 ReLU] -> 10, He init, Adam, batch 200, on MNIST.

train(): every seed of one variant; the weights of the best validation epoch are tested once.
analyze(): PCA, t-SNE and a linear probe of the input and of every hidden layer.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dlrepro.data import mnist
from dlrepro.io import atomic_path, load_arrays, read_json
from dlrepro.models.mlp import MLP
from dlrepro.train import seeds
from dlrepro.train.engine import Split, fit, stage_device

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs every training stage 0.2 s to start


def load_splits(data_dir: str | Path, val_size: int, split_seed: int, device: torch.device):
    """Train, validation (held out of train) and test splits as float tensors on the device."""
    arrays = load_arrays(data_dir, list(mnist.ARRAYS))
    n_train = len(arrays["train_y"])
    if not 0 < val_size < n_train:
        raise ValueError(f"val_size {val_size} must be between 1 and the {n_train - 1} training images")
    order = torch.randperm(n_train, generator=torch.Generator().manual_seed(split_seed))

    def split(x: np.ndarray, y: np.ndarray, idx=None) -> Split:
        x_t, y_t = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
        if idx is not None:
            x_t, y_t = x_t[idx], y_t[idx]
        return Split(x_t.to(device).flatten(1).float().div_(255), y_t.to(device))

    train = split(arrays["train_x"], arrays["train_y"], order[val_size:])
    val = split(arrays["train_x"], arrays["train_y"], order[:val_size])
    test = split(arrays["test_x"], arrays["test_y"])
    return train, val, test, read_json(Path(data_dir) / "meta.json")


def build_model(model_values: dict) -> MLP:
    return MLP(28 * 28, model_values["hidden"], mnist.N_CLASSES, model_values["activation"], model_values["init"])


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str) -> dict:
    t = values["train"]

    def train_one(seed, generator, train_split, val_split):
        model = build_model(values["model"]).to(train_split.x.device)
        result = fit(model, train_split, val_split, epochs=t["epochs"], batch_size=t["batch_size"],
                     optimizer=t["optimizer"], lr=t["lr"], lr_schedule=t["lr_schedule"],
                     generator=generator, desc=f"{label} seed {seed}")
        model.load_state_dict(result.best_state)
        return model, result.history, {"best_epoch": result.best_epoch, "epochs": t["epochs"]}

    # The analysis values do not affect training.
    return run_seeds(data_dir, t, runtime, runs_dir, metrics_path, provenance_path, label, train_one,
                     trained_with={"model": values["model"], "train": t},
                     setting=f"{t['optimizer']} {t['lr']:g}, {t['lr_schedule']} schedule, {t['epochs']} epochs, "
                             f"batch {t['batch_size']}; the best validation epoch is tested")


def run_seeds(data_dir: str | Path, t: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
              provenance_path: str | Path, label: str, train_one, *, trained_with: dict, setting: str,
              save_models: bool = True, curves: bool = True) -> dict:
    """Every seed of one MNIST variant (train/seeds.run_seeds on the MNIST splits), each tested once.

    train_one(seed, generator, train_split, val_split) -> (model to test, history rows, extra
    per-seed values). Each seed keeps model.pt unless save_models is false; curves adds one
    figure of every seed's training curves to the runs folder.
    """
    started = time.perf_counter()
    device = stage_device(runtime)
    train_split, val_split, test_split, data_meta = load_splits(data_dir, t["val_size"], t["split_seed"], device)

    def one_seed(seed: int, generator: torch.Generator, seed_dir: Path):
        model, history, extra = train_one(seed, generator, train_split, val_split)
        if save_models:
            torch.save(model.state_dict(), seed_dir / "model.pt")
        return {**extra, **seeds.tested(model, val_split, test_split)}, history

    def draw_curves(runs_tmp: Path, histories: dict[int, list[dict]]) -> None:
        from dlrepro.report import figures

        figures.training_curves({f"seed {s}": h for s, h in histories.items()}, runs_tmp / "curves.png",
                                f"{label}: training curves")

    data = {"source": data_meta["source"], "n_train": len(train_split), "n_val": len(val_split),
            "n_test": len(test_split)}
    return seeds.run_seeds(label, t["seeds"], one_seed, runs_dir, metrics_path, provenance_path,
                           summary=seeds.ACCURACY, params=trained_with, data=data, setting=setting,
                           started=started, device=device, finish=draw_curves if curves else None)


@torch.no_grad()
def layer_features(model: MLP, x: torch.Tensor, batch_size: int = 2048) -> list[np.ndarray]:
    """Input and every hidden layer's activations (logits left out), as float32 numpy arrays."""
    model.eval()
    chunks = [model.features(x[i:i + batch_size])[:-1] for i in range(0, len(x), batch_size)]
    return [torch.cat(layer).float().cpu().numpy() for layer in zip(*chunks)]


def analyze(data_dir: str | Path, runs_dir: str | Path, values: dict, runtime: dict, out_dir: str | Path) -> pd.DataFrame:
    import pandas as pd
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.manifold import TSNE
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    device = stage_device(runtime)
    t, a = values["train"], values["analysis"]
    train_split, _, test_split, _ = load_splits(data_dir, t["val_size"], t["split_seed"], device)
    seed = t["seeds"][0]
    model = build_model(values["model"]).to(device)
    model.load_state_dict(torch.load(Path(runs_dir) / f"seed{seed}" / "model.pt", map_location=device,
                                     weights_only=True))

    rng = np.random.default_rng(0)
    shown = np.sort(rng.choice(len(test_split), size=min(a["n_images"], len(test_split)), replace=False))
    probe_fit = np.sort(rng.choice(len(train_split), size=min(a["probe_train_size"], len(train_split)), replace=False))
    test_feats = layer_features(model, test_split.x)
    fit_feats = layer_features(model, train_split.x[torch.from_numpy(probe_fit).to(device)])
    test_y = test_split.y.cpu().numpy()
    fit_y = train_split.y.cpu().numpy()[probe_fit]
    names = ["input"] + [f"hidden {i + 1}" for i in range(len(values["model"]["hidden"]))]

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
    from dlrepro.report import figures

    with atomic_path(out_dir, directory=True) as tmp:
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
