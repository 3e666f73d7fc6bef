"""REFERENCE.md training-diagnosis, second part: the order of shuffle, batch and repeat in an input pipeline.

Each order is a chain of tf.data-style operations over the training indices: shuffle (a buffer of
`buffer` elements, reshuffled on every pass; 0 = as large as the stream), batch (consecutive
elements, the last one short), repeat (passes over everything upstream). The chain yields index
batches; we measure what it does to them (short batches, batches that straddle two passes, examples
repeated or missing within a pass-sized window, classes per batch, batches that recur with the same
examples) and what it does to test accuracy after the same number of steps. The training split is
stored sorted by label, as files often come grouped by class, so the order really matters.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from dlrepro.io import atomic_path, write_json
from dlrepro.models.mlp import from_section
from dlrepro.report.summary import copy_from_runs, summary_folder
from dlrepro.train.engine import evaluate, fit_steps, seed_everything, start_stage
from dlrepro.train.provenance import provenance
from dlrepro.train.splits import load_splits, sort_by_label
from dlrepro.train.stats import mean_ci95

log = logging.getLogger(__name__)


def buffer_shuffle(n: int, buffer: int, rng: np.random.Generator) -> np.ndarray:
    """The output order of n elements through a tf.data shuffle buffer of `buffer` slots.

    The buffer fills with the first elements; each output is a uniformly chosen slot, refilled with
    the next input. A buffer as large as the stream is a uniform permutation.
    """
    if buffer <= 0 or buffer >= n:
        return rng.permutation(n)
    slots = list(range(buffer))
    picks = rng.random(n)
    out = np.empty(n, dtype=np.int64)
    upcoming = buffer
    for i in range(n):  # index bookkeeping only; the data never pass through Python
        j = int(picks[i] * len(slots))
        out[i] = slots[j]
        if upcoming < n:
            slots[j] = upcoming
            upcoming += 1
        else:
            slots[j] = slots[-1]
            slots.pop()
    return out


def pipeline(ops: list[str], n: int, batch_size: int, buffer: int, passes: int, rng: np.random.Generator):
    """Run the chain of operations over indices 0..n-1: (indices, batch sizes) of the whole stream."""

    def source():
        return np.arange(n), np.ones(n, dtype=np.int64)

    stage = source
    for position, op in enumerate(ops):
        upstream = stage
        if op == "shuffle":
            def stage(upstream=upstream, position=position):  # noqa: F811
                idx, sizes = upstream()
                starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
                # buffer 0: one pass's worth of elements (the usual buffer_size = dataset size)
                per_pass = len(sizes) // (passes if "repeat" in ops[:position] else 1)
                order = buffer_shuffle(len(sizes), buffer or per_pass, rng)
                # whole elements move: an element that is already a batch keeps its examples
                take = np.concatenate([np.arange(starts[e], starts[e] + sizes[e]) for e in order]) \
                    if (sizes > 1).any() else order
                return idx[take], sizes[order]
        elif op == "batch":
            def stage(upstream=upstream):  # noqa: F811
                idx, sizes = upstream()
                if (sizes > 1).any():
                    raise ValueError("batch applied twice")
                full, rest = divmod(len(idx), batch_size)
                return idx, np.array([batch_size] * full + ([rest] if rest else []), dtype=np.int64)
        elif op == "repeat":
            def stage(upstream=upstream):  # noqa: F811
                parts = [upstream() for _ in range(passes)]
                return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        else:
            raise ValueError(f"unknown input-pipeline operation {op!r} (shuffle, batch, repeat)")
    idx, sizes = stage()
    if "batch" not in ops:
        raise ValueError("an input pipeline needs a batch operation")
    return idx, sizes


def batch_stats(idx: np.ndarray, sizes: np.ndarray, labels: np.ndarray, n: int, batch_size: int) -> dict:
    """What an order does to the batches, all computed with array operations."""
    batch_id = np.repeat(np.arange(len(sizes)), sizes)
    # pass number of every position: how often its example appeared before
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    group_start = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
    rank = np.arange(len(idx)) - np.repeat(group_start, np.diff(np.r_[group_start, len(idx)]))
    pass_no = np.empty_like(rank)
    pass_no[order] = rank
    straddle = np.maximum.reduceat(pass_no, np.r_[0, np.cumsum(sizes)[:-1]]) != \
        np.minimum.reduceat(pass_no, np.r_[0, np.cumsum(sizes)[:-1]])
    distinct = lambda key, groups: np.bincount(np.unique(key) // groups[1], minlength=groups[0])  # noqa: E731
    in_batch = distinct(batch_id * n + idx, (len(sizes), n))
    classes = distinct(batch_id * 10 + labels[idx], (len(sizes), 10))
    windows = len(idx) // n
    w_id = np.arange(windows * n) // n
    seen = distinct(w_id * n + idx[:windows * n], (windows, n)) if windows else np.array([n])
    full = sizes == batch_size
    starts = np.r_[0, np.cumsum(sizes)[:-1]][full]
    rows = np.sort(idx[starts[:, None] + np.arange(batch_size)], axis=1) if full.any() else np.zeros((0, 1))
    recurring = len(rows) - len(np.unique(rows, axis=0)) if len(rows) else 0
    first_seen = np.full(n, np.inf)
    np.minimum.at(first_seen, idx, np.arange(len(idx)))
    return {
        "batches": int(len(sizes)),
        "examples": int(len(idx)),
        "short_batches": float((sizes < batch_size).mean()),
        "straddling_batches": float(straddle.mean()),
        "batches_with_a_repeat": float((in_batch < sizes).mean()),
        "missing_per_pass_window": float(1 - seen.mean() / n),
        "all_seen_after_passes": float(first_seen.max() / n + 1 / n),
        "classes_per_batch": float(classes.mean()),
        "recurring_batches": float(recurring / max(len(rows), 1)),
    }


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    import pandas as pd

    from dlrepro.report import figures

    started, device = start_stage(runtime)
    t = values["train"]
    train_split, val_split, test_split, _, data_meta = load_splits(data_dir, t, device)
    stored = sort_by_label(train_split) if values["storage"] == "sorted" else train_split
    labels = stored.y.cpu().numpy()
    n, b = len(stored), t["batch_size"]
    steps = t["epochs"] * n // b
    rows, streams = [], {}
    for name, spec in values["orders"].items():
        accs, stats = [], None
        for seed in t["seeds"]:
            seed_everything(seed)
            rng = np.random.default_rng(seed)
            idx, sizes = pipeline(spec["ops"], n, b, spec["buffer"], t["epochs"] + 1, rng)
            if len(sizes) < steps:
                raise ValueError(f"input_order.orders.{name}: {len(sizes)} batches, fewer than {steps} steps")
            sizes = sizes[:steps]
            idx = idx[:sizes.sum()]
            if stats is None:
                stats = batch_stats(idx, sizes, labels, n, b)
                streams[name] = labels[idx[:min(len(idx), 3 * n)]]
            batches = (torch.from_numpy(part) for part in np.split(idx, np.cumsum(sizes)[:-1]))
            model = from_section(values["model"]).to(device)
            fit_steps(model, stored, None, batches, optimizer=t["optimizer"], lr=t["lr"], momentum=t["momentum"],
                      desc=f"{label} {name} seed {seed}")
            accs.append(evaluate(model, test_split)["accuracy"])
        summary = mean_ci95(accs, bounds=(0, 1))
        rows.append({"order": name, "ops": " → ".join(spec["ops"]), "buffer": spec["buffer"] or "all", **stats,
                     "test_mean": summary["mean"], "test_low": summary["low"], "test_high": summary["high"],
                     "per_seed": accs})
        log.info("%s: test accuracy %.4f, %.2f classes per batch", name, summary["mean"], stats["classes_per_batch"])
    table = pd.DataFrame(rows)
    with atomic_path(runs_dir, directory=True) as tmp:
        table.drop(columns="per_seed").to_csv(tmp / "orders.csv", index=False, float_format="%.6f")
        figures.order_study(table, streams, n, tmp / "orders.png",
                            f"input pipeline orders on label-sorted storage ({steps} steps of {b})")
    reference = table.iloc[0]
    metrics = {"test_accuracy": mean_ci95(reference["per_seed"], bounds=(0, 1))}
    write_json(metrics_path, metrics)
    write_json(provenance_path, provenance(
        values, device, time.perf_counter() - started,
        orders={r["order"]: {k: v for k, v in r.items() if k != "order"} for r in rows},
        per_seed=[{"seed": s, **{r["order"]: r["per_seed"][i] for r in rows}} for i, s in enumerate(t["seeds"])],
        data={"source": data_meta["source"], "n_train": n, "n_val": len(val_split), "n_test": len(test_split)},
        setting=f"test_accuracy is the first order ({reference['order']}); {steps} steps of batch {b}, "
                f"{t['optimizer']} {t['lr']:g}; storage {values['storage']}"))
    return metrics


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> None:
    """variants.json and every variant's order table and figure."""
    with summary_folder(out_dir, results_dir, variants) as tmp:
        for name in ("orders.csv", "orders.png"):
            copy_from_runs(results_dir, variants, name, tmp)
