"""REFERENCE.md svd-compress, svd-finetune, compression-claim: compressing the mnist-mlp baseline.

train(): one variant (a rank, a sparsity, a way of training) applied to every seed's model of
the upstream baseline (a trained mnist-mlp variant). Each compressed model is written to a file twice, float32 and int8, loaded back and
evaluated from that file, so the accuracy and the stored bytes belong to the same artefact.
summarize(): all variants together: table, accuracy vs rank, the accuracy/bytes Pareto curve,
the singular value spectra of the baseline, and the smallest stored size without accuracy loss.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from dlrepro.io import read_json, write_json
from dlrepro.models import compressed
from dlrepro.models.lowrank import FactorisedLinear, SVDLinear, factorise, full_rank, singular_values, truncated_svd
from dlrepro.models.mlp import MLP
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import Split, configure, evaluate, fit, make_optimizer, start_stage
from dlrepro.train.provenance import read_result
from dlrepro.train.seeds import run_seeds
from dlrepro.train.splits import load_splits
from dlrepro.train.trained import TrainedMLP
from dlrepro.train.stats import mean_ci95

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs every training stage 0.2 s to start

log = logging.getLogger(__name__)
PRECISIONS = ("float32", "int8")
TRAININGS = ("oneshot", "finetune", "loop")


def layer_rank(layer: nn.Module, rank: int | str) -> int:
    return full_rank(layer.weight) if rank == "full" else min(int(rank), full_rank(layer.weight))


def linear_parts(layer: nn.Module) -> list[nn.Linear]:
    return [layer.first, layer.second] if isinstance(layer, FactorisedLinear) else [layer]


def prepare(model: MLP, method: dict, loop: dict) -> MLP:
    """The baseline turned into the model a variant trains or stores: hidden layers only, the
    output layer and every bias kept."""
    rank, sparsity, training = method["rank"], method["sparsity"], method["training"]
    if training not in TRAININGS:
        raise ValueError(f"svd_compress.method.training: {training!r} (one of {', '.join(TRAININGS)})")
    if training == "loop" and (rank is None or sparsity > 0):
        raise ValueError("svd_compress: SVD in the loop needs a rank and no sparsity")
    for i, layer in enumerate(model.hidden):
        if rank is None:
            continue
        d = layer_rank(layer, rank)
        if training == "loop":
            model.hidden[i] = SVDLinear(layer, d, loop["svd"], loop["oversample"], loop["power_iterations"])
        else:
            model.hidden[i] = factorise(layer, d)
    if sparsity > 0:
        for layer in model.hidden:
            for part in linear_parts(layer):
                prune.l1_unstructured(part, "weight", amount=sparsity)  # smallest magnitudes, per matrix
    return model


def finalize(model: MLP) -> MLP:
    """Make the trained model storable: masks applied for good, SVD-in-the-loop layers replaced by
    the exact factors of the rank-D weight their forward pass used."""
    for i, layer in enumerate(model.hidden):
        if isinstance(layer, SVDLinear):
            model.hidden[i] = factorise(layer, layer.rank)
        for part in linear_parts(model.hidden[i]):
            if prune.is_pruned(part):
                prune.remove(part, "weight")
    return model


@torch.no_grad()
def loop_weight_gap(layer: SVDLinear) -> float:
    """Relative Frobenius distance between the layer's rank-D weight and the exact truncated SVD."""
    us, vh = truncated_svd(layer.weight, layer.rank)
    exact = us @ vh
    return float(torch.linalg.norm(layer.low_rank_weight() - exact) / torch.linalg.norm(exact))


def step_seconds(model: nn.Module, split: Split, batch_size: int, steps: int, lr: float) -> float:
    """Median wall time of one Adam training step on a copy of the model (after one warm-up step)."""
    model = copy.deepcopy(model).train()
    opt = make_optimizer("adam", model.parameters(), lr)
    x, y = split.x[:batch_size], split.y[:batch_size]
    times = []
    for i in range(steps + 1):
        started = time.perf_counter()
        loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - started)
    return float(np.median(times))


def describe(method: dict, values: dict) -> str:
    rank, sparsity, training = method["rank"], method["sparsity"], method["training"]
    parts = []
    if rank is not None:
        parts.append(f"{'full-rank' if rank == 'full' else f'rank-{rank}'} SVD of the hidden weight matrices")
    if sparsity > 0:
        parts.append(f"{sparsity:.0%} of each hidden weight matrix{' (each factor)' if rank else ''} pruned by magnitude")
    what = " + ".join(parts) or "the baseline itself"
    f, lp = values["finetune"], values["loop"]
    length = f"{f['epochs']} epochs" if f["steps"] is None else f"{f['steps']} steps (at most {f['epochs']} epochs)"
    schedule = (f"{f['optimizer']} {f['lr']:g}, {f['lr_schedule']} schedule, {length}, batch "
                f"{f['batch_size']}, best validation epoch")
    how = {"oneshot": "one-shot (no training)",
           "finetune": f"fine-tuned from the baseline, all parameters ({schedule})",
           "loop": f"{lp['svd']} SVD inside every forward pass, trained from the baseline ({schedule})"}[training]
    return f"{what}; output layer and biases kept; {how}; stored float32 and int8 (per-row scales)"


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    base = TrainedMLP(upstream, label)
    started, device = start_stage(runtime)
    # The baseline's own validation split: its images were never trained on, here either.
    train_split, val_split, test_split, _, data_meta = load_splits(data_dir, base.params["train"], device)
    method, f = values["method"], values["finetune"]
    timing = {}  # filled by the first seed that trains with SVD in the loop

    def compress_seed(seed: int, generator: torch.Generator, seed_dir: Path):
        baseline_path = base.checkpoint(seed)
        model = base.model(seed, device)
        baseline = {"test": evaluate(model, test_split), "val": evaluate(model, val_split)}
        record = {"baseline_bytes": baseline_path.stat().st_size,
                  "baseline_test_accuracy": baseline["test"]["accuracy"],
                  "baseline_val_accuracy": baseline["val"]["accuracy"],
                  "ranks": None if method["rank"] is None else [layer_rank(layer, method["rank"])
                                                                for layer in model.hidden]}
        plain = copy.deepcopy(model) if method["training"] == "loop" and not timing else None
        model = prepare(model, method, values["loop"])
        if plain is not None:
            steps = values["loop"]["timing_steps"]
            timing.update({"batch_size": f["batch_size"], "steps": steps, "device": str(device),
                           "plain_step_s": step_seconds(plain, train_split, f["batch_size"], steps, f["lr"]),
                           "loop_step_s": step_seconds(model, train_split, f["batch_size"], steps, f["lr"])})
            timing["ratio"] = timing["loop_step_s"] / timing["plain_step_s"]
            log.info("%s: one training step %.4f s with SVD in the loop, %.4f s plain (x%.1f)", label,
                     timing["loop_step_s"], timing["plain_step_s"], timing["ratio"])
        history = []
        if method["training"] != "oneshot":
            result = fit(model, train_split, val_split, epochs=f["epochs"], batch_size=f["batch_size"],
                         optimizer=f["optimizer"], lr=f["lr"], lr_schedule=f["lr_schedule"], max_steps=f["steps"],
                         generator=generator, desc=f"{label} seed {seed}")
            model.load_state_dict(result.best_state)
            history = result.history
            record["best_epoch"] = result.best_epoch
        if method["training"] == "loop":
            # How far the forward pass's rank-D weight is from the exact one that gets stored.
            record["loop_weight_gap"] = [loop_weight_gap(layer) for layer in model.hidden]
        model = finalize(model).cpu()
        for precision in PRECISIONS:
            suffix = "" if precision == "float32" else "_int8"
            state = compressed.encode(model, base.params["model"]["activation"], int8=precision == "int8")
            path = seed_dir / f"model_{precision}.pt"
            record[f"stored_bytes{suffix}"] = compressed.save(state, path)
            record[f"payload_bytes{suffix}"] = compressed.payload_bytes(state)
            record[f"size_pct{suffix}"] = 100 * record[f"stored_bytes{suffix}"] / record["baseline_bytes"]
            # Evaluated from the file, as a user would load it; the change is paired with the seed's baseline.
            loaded = compressed.decode(compressed.load(path)).to(device)
            for split_name, split in (("test", test_split), ("val", val_split)):
                accuracy = evaluate(loaded, split)["accuracy"]
                record[f"{split_name}_accuracy{suffix}"] = accuracy
                record[f"{split_name}_accuracy_change{suffix}"] = accuracy - record[f"baseline_{split_name}_accuracy"]
        return record, history

    data = {"source": data_meta["source"], "n_train": len(train_split), "n_val": len(val_split),
            "n_test": len(test_split)}
    baseline_bytes = base.checkpoint(base.seeds[0]).stat().st_size
    return run_seeds(label, base.seeds, compress_seed, runs_dir, metrics_path, provenance_path, summary=SUMMARY,
                     params={"method": method, "finetune": f, "loop": values["loop"], "baseline": base.params},
                     data=data, setting=describe(method, values), started=started, device=device,
                     extra={"baseline_bytes": baseline_bytes, "step_cost": timing})


# What a variant's seeds are summarised by, with the range each metric can take: accuracies, their
# paired change against each seed's baseline, stored sizes (bytes and % of the baseline's file).
SUMMARY = {
    **{f"{split}_accuracy{suffix}": (0, 1) for suffix in ("", "_int8") for split in ("test", "val")},
    **{f"{split}_accuracy_change{suffix}": (-math.inf, math.inf) for suffix in ("", "_int8") for split in ("test", "val")},
    **{f"stored_bytes{suffix}": (-math.inf, math.inf) for suffix in ("", "_int8")},
    **{f"size_pct{suffix}": (0, math.inf) for suffix in ("", "_int8")},
    "baseline_test_accuracy": (0, 1),
}


def _table(variants_dir: Path, variants: list[str]) -> tuple[list[dict], dict]:
    rows, metrics = [], {}
    for variant in variants:
        m = metrics[variant] = read_result(variants_dir / variant)
        for precision in PRECISIONS:
            suffix = "" if precision == "float32" else "_int8"
            acc, change = m[f"test_accuracy{suffix}"], m[f"test_accuracy_change{suffix}"]
            method = m["params"]["method"]
            rows.append({"variant": variant, "precision": precision, "training": method["training"],
                         "rank": method["rank"], "sparsity": method["sparsity"],
                         "stored_bytes": round(m[f"stored_bytes{suffix}"]["mean"]),
                         "size_pct": m[f"size_pct{suffix}"]["mean"],
                         "test_accuracy": acc["mean"], "test_accuracy_low": acc["low"], "test_accuracy_high": acc["high"],
                         "change": change["mean"], "change_low": change["low"], "change_high": change["high"],
                         "val_accuracy": m[f"val_accuracy{suffix}"]["mean"]})
    return rows, metrics


def smallest_within(points: list[dict], tolerance: float) -> dict:
    """The smallest stored point whose accuracy is at least the baseline's minus tolerance."""
    ok = [p for p in points if p["accuracy"] >= p["baseline"] - tolerance - 1e-12]
    return min(ok, key=lambda p: (p["size_pct"], -p["accuracy"]))


def claim_check(metrics: dict[str, dict], rows: list[dict], claim: dict) -> dict:
    """The claim "compressed by X% without decreasing accuracy", against every stored model.

    On the mean over seeds: the smallest stored size whose mean test accuracy is within tolerance
    of the baseline's mean. Per seed: the same against that seed's own baseline, which gives an
    interval over seeds.
    """
    tolerance = claim["tolerance"]
    first = next(iter(metrics.values()))
    baseline = first["baseline_test_accuracy"]["mean"]
    best = smallest_within([{**r, "accuracy": r["test_accuracy"], "baseline": baseline} for r in rows], tolerance)
    # The same choice made on the validation split, which the test set then checks.
    baseline_val = float(np.mean([r["baseline_val_accuracy"] for r in first["per_seed"]]))
    by_val = smallest_within([{**r, "accuracy": r["val_accuracy"], "baseline": baseline_val} for r in rows], tolerance)
    seeds = [r["seed"] for r in next(iter(metrics.values()))["per_seed"]]
    per_seed = []
    for i, seed in enumerate(seeds):
        points = []
        for variant, m in metrics.items():
            run = m["per_seed"][i]
            for precision in PRECISIONS:
                suffix = "" if precision == "float32" else "_int8"
                points.append({"variant": variant, "precision": precision, "accuracy": run[f"test_accuracy{suffix}"],
                               "baseline": run["baseline_test_accuracy"],
                               "size_pct": 100 * run[f"stored_bytes{suffix}"] / run["baseline_bytes"]})
        per_seed.append({"seed": seed, **smallest_within(points, tolerance)})
    claimed = claim["size_pct"]
    keys = ("variant", "precision", "size_pct", "stored_bytes", "test_accuracy", "change", "change_low", "change_high")
    return {
        "smallest_size_pct": mean_ci95((p["size_pct"] for p in per_seed), bounds=(0, math.inf)),
        "best": {k: best[k] for k in keys},
        "selected_on_validation": {k: by_val[k] for k in keys},
        "baseline_test_accuracy": baseline,
        "baseline_bytes": next(iter(metrics.values()))["baseline_bytes"],
        "per_seed": per_seed,
        "tolerance": tolerance,
        "claimed_size_pct": claimed,
        "claim_holds": best["size_pct"] <= claimed,
        "statement": (
            f"The smallest stored model whose mean test accuracy is within {100 * tolerance:.1f} point of the "
            f"uncompressed baseline ({100 * baseline:.2f}%) is {best['variant']} ({best['precision']}): "
            f"{best['stored_bytes'] / 1e3:.0f} kB, {best['size_pct']:.2f}% of the baseline's "
            f"{next(iter(metrics.values()))['baseline_bytes'] / 1e6:.2f} MB file, at {100 * best['test_accuracy']:.2f}% "
            f"accuracy. So \"compressed by {100 - claimed:g}% without decreasing accuracy\" "
            + ("holds" if best["size_pct"] <= claimed else
               f"does not hold: the best lossless compression is {100 - best['size_pct']:.1f}%") + ". "
            f"Chosen on the validation split instead, the smallest model within {100 * tolerance:.1f} point of the "
            f"baseline is {by_val['variant']} ({by_val['precision']}, {by_val['size_pct']:.2f}%), whose test accuracy "
            f"differs from the baseline's by {100 * by_val['change']:+.2f} point"
            + ("" if by_val["change_low"] is None else
               f" [{100 * by_val['change_low']:+.2f}, {100 * by_val['change_high']:+.2f}]") + "."),
    }


@torch.no_grad()
def spectra(base: TrainedMLP) -> np.ndarray:
    """Singular values of every hidden weight matrix: [seed, layer, index], NaN past the rank."""
    hidden = base.params["model"]["hidden"]
    out = np.full((len(base.seeds), len(hidden), max(hidden)), np.nan, dtype=np.float32)
    for i, seed in enumerate(base.seeds):
        for j, layer in enumerate(base.model(seed).hidden):
            s = singular_values(layer.weight).float().numpy()
            out[i, j, :len(s)] = s
    return out


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> pd.DataFrame:
    """The table, figures and claim over every variant; upstream: the trained baseline's folder."""
    import pandas as pd

    from dlrepro.report import compression as figures

    base = TrainedMLP(upstream, "svd-compress summarize")
    configure(runtime["threads"])
    results_dir = Path(results_dir)
    rows, metrics = _table(results_dir, variants)
    claim = claim_check(metrics, rows, values["claim"])
    values_s = spectra(base)
    step_cost = {v: read_json(results_dir / v / "provenance.json")["step_cost"] for v in variants
                 if metrics[v]["params"]["method"]["training"] == "loop"}
    table = pd.DataFrame(rows)
    overall = {"data": next(iter(metrics.values()))["data"],
               "setting": f"every stored model (float32 and int8) of {len(variants)} variants; accuracy within "
                          f"{100 * claim['tolerance']:.1f} point of each seed's baseline; size = bytes of the saved file"}
    numbers = {"smallest_size_pct": claim["smallest_size_pct"]}
    with summary_folder(out_dir, results_dir, variants, summary={**claim, **overall}) as tmp:
        table.to_csv(tmp / "table.csv", index=False, float_format="%.6g")
        np.save(tmp / "spectra.npy", values_s)
        write_json(tmp / "metrics.json", numbers)
        write_json(tmp / "claim.json", {k: v for k, v in claim.items() if k not in numbers})
        write_json(tmp / "step_cost.json", step_cost)  # wall times: not byte-stable, kept apart
        figures.accuracy_vs_rank(table, claim["baseline_test_accuracy"], tmp / "accuracy_vs_rank.png")
        figures.pareto(table, claim["baseline_test_accuracy"], claim["tolerance"], claim["claimed_size_pct"],
                       tmp / "pareto.png")
        figures.spectra(values_s, tmp / "spectra.png")
    return table
