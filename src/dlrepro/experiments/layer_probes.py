"""REFERENCE.md layer-probes: how much of the class does a handful of units of a layer carry?

The PCA and t-SNE maps and the full linear probe of every layer come from mnist_mlp's analyze
stage (results/mnist_mlp/analysis). This stage adds the "10 random units" probe on every seed's
model of the same variant: for each layer, many random subsets of `units` units, a softmax
regression fit on each subset's activations of training images (all subsets at once, as one
batched torch problem), the subsets ranked on the validation split and scored on the test set.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dlrepro.data import mnist
from dlrepro.experiments.mnist_mlp import build_model, layer_features, load_splits
from dlrepro.io import atomic_path, read_json, write_json
from dlrepro.train.engine import stage_device
from dlrepro.train.provenance import provenance
from dlrepro.train.stats import mean_ci95

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
        opt = torch.optim.Adam([weight, bias], lr=lr)
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


def probe(data_dir: str | Path, runs_dir: str | Path, trained: str | Path, values: dict, runtime: dict,
          out_dir: str | Path) -> dict:
    import pandas as pd

    from dlrepro.report import figures

    started = time.perf_counter()
    device = stage_device(runtime)
    trained_metrics = read_json(trained)
    model_values, t = trained_metrics["params"]["model"], trained_metrics["params"]["train"]
    train_split, val_split, test_split, data_meta = load_splits(data_dir, t["val_size"], t["split_seed"], device)
    gen = torch.Generator().manual_seed(values["seed"])
    fit_idx = torch.randperm(len(train_split), generator=gen)[:values["probe_train_size"]].sort().values
    k = values["units"]
    rows, per_seed, shown = [], [], {}
    accuracy_arrays = []
    for run in trained_metrics["per_seed"]:
        seed = run["seed"]
        model = build_model(model_values).to(device)
        model.load_state_dict(torch.load(Path(runs_dir) / f"seed{seed}" / "model.pt", map_location=device,
                                         weights_only=True))
        fit_feats = layer_features(model, train_split.x[fit_idx.to(device)])
        val_feats, test_feats = layer_features(model, val_split.x), layer_features(model, test_split.x)
        names = ["input"] + [f"hidden {i + 1}" for i in range(len(fit_feats) - 1)]
        fit_y, val_y, test_y = (s.y.cpu() for s in (train_split, val_split, test_split))
        fit_y = fit_y[fit_idx]
        seed_acc, seed_summary = [], {}
        for layer, name in enumerate(names):
            n_units = fit_feats[layer].shape[1]
            subsets = torch.rand(values["draws"], n_units, generator=gen).argsort(1)[:, :k]
            val_acc, test_acc = subset_probes(torch.from_numpy(fit_feats[layer]), fit_y,
                                              [(torch.from_numpy(val_feats[layer]), val_y),
                                               (torch.from_numpy(test_feats[layer]), test_y)],
                                              subsets, mnist.N_CLASSES, values["steps"], values["lr"],
                                              values["weight_decay"])
            best, worst = int(val_acc.argmax()), int(val_acc.argmin())
            rows.append({"seed": seed, "layer": name, "units": n_units, "draws": len(subsets),
                         "test_mean": float(test_acc.mean()), "test_median": float(test_acc.median()),
                         "test_p05": float(test_acc.quantile(0.05)), "test_p95": float(test_acc.quantile(0.95)),
                         "best_subset_test": float(test_acc[best]), "worst_subset_test": float(test_acc[worst])})
            seed_acc.append(test_acc.numpy())
            seed_summary[name] = float(test_acc[best])
            if seed == trained_metrics["per_seed"][0]["seed"]:
                # class-mean activation of the chosen units on test images, to show what they respond to
                for kind, draw in (("best", best), ("worst", worst)):
                    units = subsets[draw].numpy()
                    feats = test_feats[layer][:, units]
                    means = np.stack([feats[test_y.numpy() == c].mean(0) for c in range(mnist.N_CLASSES)])
                    shown[(name, kind)] = {"units": units, "class_means": means, "test": float(test_acc[draw]),
                                           "val": float(val_acc[draw])}
        accuracy_arrays.append(np.stack(seed_acc))
        per_seed.append({"seed": seed, "best_subset_test": seed_summary})
        log.info("seed %d: %s", seed, ", ".join(f"{r['layer']} {r['test_mean']:.3f}" for r in rows[-len(names):]))
    table = pd.DataFrame(rows)
    accuracy = np.stack(accuracy_arrays)                            # [seed, layer, draw]
    last = names[-1]
    metrics = {
        "last_layer_subset_test_accuracy": mean_ci95(
            table.loc[table["layer"] == last, "test_mean"], bounds=(0, 1)),
        "last_layer_best_subset_test_accuracy": mean_ci95(
            table.loc[table["layer"] == last, "best_subset_test"], bounds=(0, 1)),
        "per_seed": per_seed,
        "data": {"source": data_meta["source"], "n_train": len(fit_idx), "n_val": len(val_split),
                 "n_test": len(test_split)},
        "params": {"probe": values, "model": model_values},
        "setting": f"{values['draws']} random subsets of {k} units per layer and seed; softmax regression on "
                   f"{len(fit_idx)} training images, best and worst subset picked on validation, scored on test",
    }
    with atomic_path(out_dir, directory=True) as tmp:
        table.to_csv(tmp / "subsets.csv", index=False, float_format="%.6f")
        np.save(tmp / "test_accuracy.npy", accuracy.astype(np.float32))
        figures.subset_distributions(accuracy, names, tmp / "distributions.png",
                                     f"test accuracy of a classifier on {k} random units, per layer "
                                     f"({accuracy.shape[2]} draws × {accuracy.shape[0]} seeds)")
        figures.subset_examples(shown, names, tmp / "best_worst.png",
                                f"best and worst {k}-unit subsets (picked on validation; first seed): "
                                "mean activation per digit on test images")
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "provenance.json", provenance(metrics["params"], device, time.perf_counter() - started))
    return metrics
