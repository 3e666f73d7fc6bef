"""REFERENCE.md layer-probes: how much of the class does a handful of units of a layer carry?

The PCA and t-SNE maps and the full linear probe of every layer are on mnist_mlp's page. This
stage (upstream: a trained mnist-mlp variant) adds the "10 random units" probe on every seed's
model of that variant: for each layer, many random subsets of `units` units, a softmax
regression fit on each subset's activations of training images (all subsets at once, as one
batched torch problem), the subsets ranked on the validation split and scored on the test set.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dlrepro.data import mnist
from dlrepro.models.mlp import layer_features
from dlrepro.report.summary import copy_from_runs, summary_folder
from dlrepro.train import optim
from dlrepro.train.engine import start_stage
from dlrepro.train.seeds import run_seeds
from dlrepro.train.splits import load_splits
from dlrepro.train.trained import TrainedMLP

log = logging.getLogger(__name__)


def standardise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (x - mean) / std


def subset_probes(fit_x: torch.Tensor, fit_y: torch.Tensor, evals: list, subsets: torch.Tensor,
                  n_classes: int, steps: int, lr: float, weight_decay: float, chunk: int = 256) -> list[torch.Tensor]:
    """Accuracy of a softmax regression on every subset of units, on each evaluation set.

    fit_x: [n, units]; subsets: [draws, k] unit indices; evals: (x, y) pairs. Every subset is its
    own k-input softmax regression on standardised inputs; their losses are summed and minimised
    together with full-batch Adam (per-parameter steps, so the problems stay independent),
    `chunk` subsets at a time. Tensors are laid out [subset, class or unit, example], the fast
    layout for a softmax over few classes. Returns, per evaluation set, every subset's accuracy.
    """
    out = [[] for _ in evals]
    for start in range(0, len(subsets), chunk):
        idx = subsets[start:start + chunk]                          # [d, k]
        x = fit_x.T[idx]                                            # [d, k, n]
        mean, std = x.mean(2, keepdim=True), x.std(2, keepdim=True).clamp_min(1e-6)
        x = standardise(x, mean, std)
        d, k, _ = x.shape
        weight = torch.zeros(d, n_classes, k, requires_grad=True)
        bias = torch.zeros(d, n_classes, 1, requires_grad=True)
        opt = optim.Adam([weight, bias], lr=lr)
        target = fit_y.expand(d, -1)
        for _ in range(steps):
            logits = torch.baddbmm(bias, weight, x)                 # [d, c, n]
            # the mean over problems times d: each problem's own mean cross-entropy, summed
            loss = F.cross_entropy(logits, target) * d + weight_decay * weight.pow(2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            for i, (ex, ey) in enumerate(evals):
                z = standardise(ex.T[idx], mean, std)
                pred = torch.baddbmm(bias, weight, z).argmax(1)     # [d, m]
                out[i].append((pred == ey).float().mean(1))
    return [torch.cat(o) for o in out]


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    """The subset probes of every seed's model of the upstream mnist-mlp variant."""
    import pandas as pd

    from dlrepro.report import figures

    trained = TrainedMLP(upstream, label)
    started, device = start_stage(runtime)
    train_split, val_split, test_split, _, data_meta = load_splits(data_dir, trained.params["train"], device)
    gen = torch.Generator().manual_seed(values["seed"])
    fit_idx = torch.randperm(len(train_split), generator=gen)[:values["probe_train_size"]].sort().values
    k = values["units"]
    rows, shown, accuracy_arrays = [], {}, []

    def probe_seed(seed: int, _generator: torch.Generator, _seed_dir: Path):
        model = trained.model(seed, device)
        fit_feats = layer_features(model, train_split.x[fit_idx.to(device)])
        val_feats, test_feats = layer_features(model, val_split.x), layer_features(model, test_split.x)
        names = ["input"] + [f"hidden {i + 1}" for i in range(len(fit_feats) - 1)]
        fit_y, val_y, test_y = (s.y.cpu() for s in (train_split, val_split, test_split))
        fit_y = fit_y[fit_idx]
        seed_rows, seed_acc, seed_summary = [], [], {}
        for layer, name in enumerate(names):
            n_units = fit_feats[layer].shape[1]
            subsets = torch.rand(values["draws"], n_units, generator=gen).argsort(1)[:, :k]
            val_acc, test_acc = subset_probes(torch.from_numpy(fit_feats[layer]), fit_y,
                                              [(torch.from_numpy(val_feats[layer]), val_y),
                                               (torch.from_numpy(test_feats[layer]), test_y)],
                                              subsets, mnist.N_CLASSES, values["steps"], values["lr"],
                                              values["weight_decay"])
            best, worst = int(val_acc.argmax()), int(val_acc.argmin())
            seed_rows.append({"seed": seed, "layer": name, "units": n_units, "draws": len(subsets),
                              "test_mean": float(test_acc.mean()), "test_median": float(test_acc.median()),
                              "test_p05": float(test_acc.quantile(0.05)), "test_p95": float(test_acc.quantile(0.95)),
                              "best_subset_test": float(test_acc[best]), "worst_subset_test": float(test_acc[worst])})
            seed_acc.append(test_acc.numpy())
            seed_summary[name] = float(test_acc[best])
            if seed == trained.seeds[0]:
                # class-mean activation of the chosen units on test images, to show what they respond to
                for kind, draw in (("best", best), ("worst", worst)):
                    units = subsets[draw].numpy()
                    feats = test_feats[layer][:, units]
                    means = np.stack([feats[test_y.numpy() == c].mean(0) for c in range(mnist.N_CLASSES)])
                    shown[(name, kind)] = {"units": units, "class_means": means, "test": float(test_acc[draw]),
                                           "val": float(val_acc[draw])}
        rows.extend(seed_rows)
        accuracy_arrays.append(np.stack(seed_acc))
        log.info("seed %d: %s", seed, ", ".join(f"{r['layer']} {r['test_mean']:.3f}" for r in seed_rows))
        return {"best_subset_test": seed_summary,
                "last_layer_subset_test_accuracy": seed_rows[-1]["test_mean"],
                "last_layer_best_subset_test_accuracy": seed_rows[-1]["best_subset_test"]}, []

    def write_tables(runs_tmp: Path, _histories) -> None:
        table = pd.DataFrame(rows)
        names = list(dict.fromkeys(table["layer"]))
        accuracy = np.stack(accuracy_arrays)                        # [seed, layer, draw]
        table.to_csv(runs_tmp / "subsets.csv", index=False, float_format="%.6f")
        np.save(runs_tmp / "test_accuracy.npy", accuracy.astype(np.float32))
        figures.subset_distributions(accuracy, names, runs_tmp / "distributions.png",
                                     f"test accuracy of a classifier on {k} random units, per layer "
                                     f"({accuracy.shape[2]} draws × {accuracy.shape[0]} seeds)")
        figures.subset_examples(shown, names, runs_tmp / "best_worst.png",
                                f"best and worst {k}-unit subsets (picked on validation; first seed): "
                                "mean activation per digit on test images")

    data = {"source": data_meta["source"], "n_train": len(fit_idx), "n_val": len(val_split), "n_test": len(test_split)}
    setting = (f"{values['draws']} random subsets of {k} units per layer and seed; softmax regression on "
               f"{len(fit_idx)} training images, best and worst subset picked on validation, scored on test")
    summary = {"last_layer_subset_test_accuracy": (0, 1), "last_layer_best_subset_test_accuracy": (0, 1)}
    return run_seeds(label, trained.seeds, probe_seed, runs_dir, metrics_path, provenance_path, summary=summary,
                     params={"probe": values, "model": trained.params["model"]}, data=data, setting=setting,
                     started=started, device=device, finish=write_tables)


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> None:
    """variants.json and every variant's subset table and figures."""
    with summary_folder(out_dir, results_dir, variants) as tmp:
        for name in ("subsets.csv", "distributions.png", "best_worst.png"):
            copy_from_runs(results_dir, variants, name, tmp)
