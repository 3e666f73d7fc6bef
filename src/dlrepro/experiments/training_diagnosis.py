"""REFERENCE.md training-diagnosis: classic training failures, the diagnostics that reveal them, the fix.

Each variant is one broken setup (the section's values with the variant's `broken` overrides
merged in) trained beside its fixed twin (the same values without them), every seed. For the
first seed, snapshots during training record per layer a fixed sample of the activations (on a
fixed probe batch), the weight gradients and the weights, plus scalar diagnostics: loss, gradient
and weight norms, the share of units that never fire and the share of saturated activations.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dlrepro.config import deep_merge
from dlrepro.io import atomic_path, load_arrays, read_json, save_arrays, write_json
from dlrepro.models.mlp import from_section
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import Split, epoch_batches, evaluate, fit_steps, seed_everything, start_stage
from dlrepro.train.provenance import provenance
from dlrepro.train.splits import load_splits, sort_by_label
from dlrepro.train.stats import mean_ci95

log = logging.getLogger(__name__)
RUNS = ("broken", "fixed")  # the two setups each variant trains, in setups()' order
QUANTITIES = ("activations", "gradients", "weights")


class SoftmaxOutput(nn.Module):
    """The network with a softmax on its outputs: cross-entropy then applies a second one (the bug)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = self.net.features(x)
        return [*outputs[:-1], torch.softmax(outputs[-1], dim=1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[-1]


def setups(values: dict) -> dict[str, dict]:
    """The fixed setup and the broken one (the fixed one with the variant's `broken` overrides)."""
    fixed = {k: v for k, v in values.items() if k != "broken"}
    return {"broken": deep_merge(fixed, values["broken"]), "fixed": fixed}


def build(setup: dict) -> nn.Module:
    net = from_section(setup["model"])
    return SoftmaxOutput(net) if setup["softmax_output"] else net


def layers_of(model: nn.Module) -> list[nn.Linear]:
    net = model.net if isinstance(model, SoftmaxOutput) else model
    return [*net.hidden, net.out]


class Recorder:
    """Snapshots of one run: fixed samples of activations, gradients and weights, and scalars."""

    def __init__(self, model: nn.Module, probe_x: torch.Tensor, steps: int, d: dict, generator: torch.Generator):
        self.model, self.probe_x = model, probe_x
        self.at = set(np.unique(np.linspace(1, steps, d["snapshots"]).round().astype(int)).tolist())
        layers = layers_of(model)
        sizes = [layer.weight.numel() for layer in layers] + [len(probe_x) * layer.out_features for layer in layers]
        n = min(d["samples"], *sizes)  # the same count everywhere, so snapshots stack into one array
        self.weight_idx = [torch.randperm(layer.weight.numel(), generator=generator)[:n] for layer in layers]
        self.act_idx = [torch.randperm(len(probe_x) * layer.out_features, generator=generator)[:n] for layer in layers]
        self.samples = {q: [] for q in QUANTITIES}
        self.rows = []

    def __call__(self, step: int, model: nn.Module, loss: torch.Tensor) -> None:
        if step not in self.at:
            return
        layers = layers_of(model)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            acts = model.features(self.probe_x)[1:]
        model.train(was_training)
        samples = {q: [] for q in QUANTITIES}
        for i, (layer, act) in enumerate(zip(layers, acts)):
            grad = layer.weight.grad if layer.weight.grad is not None else torch.zeros_like(layer.weight)
            samples["activations"].append(act.flatten()[self.act_idx[i].to(act.device)])
            samples["gradients"].append(grad.flatten()[self.weight_idx[i].to(grad.device)])
            samples["weights"].append(layer.weight.detach().flatten()[self.weight_idx[i].to(grad.device)])
            hidden = i < len(layers) - 1
            self.rows.append({
                "step": step, "layer": f"hidden {i + 1}" if hidden else "output", "loss": float(loss),
                "grad_norm": float(grad.norm()), "weight_norm": float(layer.weight.detach().norm()),
                # units that give 0 for every probe image (dead ReLUs, or zero weights)
                "dead_fraction": float((act == 0).all(0).float().mean()) if hidden else math.nan,
                # activations pinned at a sigmoid's flat ends (or a softmax's 0 and 1)
                "saturated_fraction": float(((act < 0.01) | (act > 0.99)).float().mean()),
                "activation_std": float(act.float().std()),
            })
        for q in QUANTITIES:
            self.samples[q].append(torch.stack([s.float().cpu() for s in samples[q]]))

    def arrays(self) -> dict[str, np.ndarray]:
        return {q: torch.stack(v).numpy() for q, v in self.samples.items()}  # [snapshot, layer, sample]


def run_setup(setup: dict, train_split: Split, val_split: Split, seed: int, diagnostics: dict | None, label: str):
    t = setup["train"]
    generator = seed_everything(seed)
    model = build(setup).to(train_split.x.device)
    data = sort_by_label(train_split) if t["order"] == "sorted" else train_split
    batches = epoch_batches(len(data), t["batch_size"], t["steps"],
                            None if t["order"] == "sorted" else generator)
    recorder = None
    if diagnostics is not None:
        probe = torch.randperm(len(val_split), generator=torch.Generator().manual_seed(0))[:diagnostics["probe_size"]]
        recorder = Recorder(model, val_split.x[probe.to(val_split.x.device)], t["steps"], diagnostics,
                            torch.Generator().manual_seed(seed))
    history = fit_steps(model, data, val_split, batches, optimizer=t["optimizer"], lr=t["lr"],
                        momentum=t["momentum"], eval_every=t["eval_every"], on_step=recorder, desc=label)
    return model, history, recorder


def predicted_classes(model: nn.Module, split: Split) -> int:
    with torch.no_grad():
        model.eval()
        return int(model(split.x).argmax(1).unique().numel())


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    import pandas as pd

    started, device = start_stage(runtime)
    pair = setups(values)
    t = values["train"]
    train_split, val_split, test_split, _, data_meta = load_splits(data_dir, t, device)
    per_seed, diagnosis = [], {}
    with atomic_path(runs_dir, directory=True) as tmp:
        for seed in t["seeds"]:
            run = {"seed": seed}
            for name, setup in pair.items():
                first = seed == t["seeds"][0]
                model, history, recorder = run_setup(setup, train_split, val_split, seed,
                                                     values["diagnostics"] if first else None, f"{label} {name}")
                test = evaluate(model, test_split)
                run.update({f"{name}_test_accuracy": test["accuracy"],
                            f"{name}_test_loss": test["loss"] if math.isfinite(test["loss"]) else None,
                            f"{name}_classes_predicted": predicted_classes(model, test_split)})
                history = pd.DataFrame(history)
                out = tmp / name / f"seed{seed}"
                out.mkdir(parents=True)
                history.to_csv(out / "history.csv", index=False)
                if recorder is not None:
                    scalars = pd.DataFrame(recorder.rows)
                    scalars.to_csv(tmp / name / "diagnostics.csv", index=False, float_format="%.6g")
                    samples = recorder.arrays()
                    save_arrays(tmp / name / "samples", samples,
                                {"steps": sorted(recorder.at), "layers": scalars["layer"].unique().tolist(),
                                 "quantities": list(samples), "seed": seed})
                    diagnosis[name] = summarize_diagnostics(scalars)
            per_seed.append(run)
            log.info("%s seed %d: broken %.4f, fixed %.4f", label, seed, run["broken_test_accuracy"],
                     run["fixed_test_accuracy"])
    metrics = {
        "test_accuracy": mean_ci95((r["fixed_test_accuracy"] for r in per_seed), bounds=(0, 1)),
        "broken_test_accuracy": mean_ci95((r["broken_test_accuracy"] for r in per_seed), bounds=(0, 1)),
    }
    write_json(metrics_path, metrics)
    data = {"source": data_meta["source"], "n_train": len(train_split), "n_val": len(val_split),
            "n_test": len(test_split)}
    write_json(provenance_path, provenance(pair, device, time.perf_counter() - started, per_seed=per_seed,
                                           diagnosis=diagnosis, data=data,
                                           setting=f"fixed run: {describe(pair['fixed'])}; broken: {changes(pair)}"))
    return metrics


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> None:
    """variants.json and every variant's figures: curves and the histograms of both runs."""
    import pandas as pd

    from dlrepro.report import figures

    with summary_folder(out_dir, results_dir, variants) as tmp:
        for v in variants:
            runs = Path(results_dir) / v / "runs"
            label = f"training-diagnosis/{v}"
            figures.diagnosis_curves({name: list(figures.seed_histories(runs / name).values()) for name in RUNS},
                                     *(pd.read_csv(runs / name / "diagnostics.csv") for name in RUNS),
                                     tmp / f"curves_{v}.png", label)
            for name in RUNS:
                meta = read_json(runs / name / "samples" / "meta.json")
                figures.histograms_over_training(
                    load_arrays(runs / name / "samples", meta["quantities"]), meta["steps"], meta["layers"],
                    tmp / f"histograms_{name}_{v}.png",
                    f"{label}, {name}: histograms over training (seed {meta['seed']})")


def summarize_diagnostics(scalars) -> dict:
    """Per run: the numbers that tell the failures apart (first and last snapshot, every layer)."""
    first, last = scalars["step"].min(), scalars["step"].max()
    hidden = scalars[scalars["layer"] != "output"]
    return {
        "loss_first": float(scalars.loc[scalars["step"] == first, "loss"].iloc[0]),
        "loss_last": float(scalars.loc[scalars["step"] == last, "loss"].iloc[0]),
        "loss_finite": bool(np.isfinite(scalars["loss"]).all()),
        "hidden_grad_norm_max": float(hidden["grad_norm"].max()),
        "hidden_grad_norm_median": float(hidden["grad_norm"].median()),
        "dead_fraction_last": float(hidden.loc[hidden["step"] == last, "dead_fraction"].mean()),
        "saturated_fraction_first": float(hidden.loc[hidden["step"] == first, "saturated_fraction"].mean()),
        "output_saturated_fraction_last": float(
            scalars.loc[(scalars["layer"] == "output") & (scalars["step"] == last), "saturated_fraction"].iloc[0]),
        "weight_norm_last": float(scalars.loc[scalars["step"] == last, "weight_norm"].max()),
    }


def describe(setup: dict) -> str:
    m, t = setup["model"], setup["train"]
    init = f"N(0, {m['init_std']:g}²)" if m["init"] == "normal" else m["init"]
    return (f"{m['depth']}×{m['width']} {m['activation']}, {init} init"
            f"{', softmax output' if setup['softmax_output'] else ''}; {t['optimizer']} {t['lr']:g}, "
            f"batch {t['batch_size']}, {t['steps']} steps, {t['order']} batches; last weights tested")


def changes(pair: dict) -> str:
    """The values in which the broken setup differs from the fixed one."""
    out = []
    for section in ("model", "train"):
        for key, value in pair["broken"][section].items():
            if pair["fixed"][section][key] != value:
                out.append(f"{key} {pair['fixed'][section][key]} → {value}")
    if pair["broken"]["softmax_output"] != pair["fixed"]["softmax_output"]:
        out.append("softmax applied inside the model and again by the loss")
    return ", ".join(out) or "nothing"
