"""mytorch (numpy, gradients by hand) against torch (autograd): training steps of each model the
pipeline's mytorch family trains (forward, backward, update; batch 64 of MNIST-shaped images, the
same weights and update rule in both), timed in this process, printed as the ratio of mytorch's
time to torch's, in float64 (the family's setting) and float32. Ratios above 1: numpy is slower.

Each repeat times a block of steps of one library, then of the other; the ratio printed is the
median over repeats of the two blocks' ratio, with the range. BENCH_THREADS sets the threads of
both (torch and numpy's BLAS; default 1).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from common import parse_args
from dlrepro.config import load_params, resolve, variants_of
from dlrepro.experiments.mytorch import Twins, batch_of, model_input
from dlrepro.train.engine import configure

ROOT = Path(__file__).resolve().parents[1]
BATCH = 64
STEPS = 20  # steps per timed block


def block_seconds(step, x, y) -> float:
    start = time.perf_counter()
    for _ in range(STEPS):
        step(x, y)
    return time.perf_counter() - start


def main() -> None:
    args = parse_args(__doc__)
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    configure(threads)
    threadpool_limits(threads)
    params = load_params(ROOT / "params.yaml")
    rng = np.random.default_rng(0)
    images = rng.random((BATCH, 1, 28, 28))
    labels = rng.integers(0, 10, BATCH)
    print(f"batch {BATCH}, {threads} thread(s) each (torch and numpy's BLAS), blocks of {STEPS} steps, "
          f"median of {args.repeats} repeats after a warm-up block")
    for variant in variants_of(params, "mytorch"):  # the models and update rules of the real profile
        values = resolve(params, "mytorch", "real", variant)
        m, t = values["model"], values["train"]
        for dtype in (np.float64, np.float32):
            twins = Twins(m, t, np.random.default_rng(0), dtype)
            x = batch_of(m["kind"], model_input(m["kind"], images.astype(dtype)), np.arange(BATCH))
            block_seconds(twins.step_mytorch, x, labels), block_seconds(twins.step_torch, x, labels)
            ours, theirs = [], []
            for _ in range(args.repeats):
                ours.append(block_seconds(twins.step_mytorch, x, labels))
                theirs.append(block_seconds(twins.step_torch, x, labels))
            ratios = [a / b for a, b in zip(ours, theirs)]
            print(f"{variant:4s} {np.dtype(dtype).name}: mytorch {1e3 * statistics.median(ours) / STEPS:6.2f} ms, "
                  f"torch {1e3 * statistics.median(theirs) / STEPS:6.2f} ms a step; ratio mytorch / torch "
                  f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})")


if __name__ == "__main__":
    main()
