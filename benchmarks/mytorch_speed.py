"""mytorch (numpy, gradients by hand) against torch (autograd): one training step of each model the
pipeline's mytorch family trains (forward, backward, update; batch 64 of MNIST-shaped images, the
same weights and update rule in both), timed in this process, printed as the ratio of mytorch's
time to torch's, in float64 (the family's setting) and float32. Ratios above 1: numpy is slower.
"""

from __future__ import annotations

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from common import best_time, parse_args
from dlrepro.config import load_params, resolve, variants_of
from dlrepro.experiments.mytorch import Twins, batch_of, model_input
from dlrepro.train.engine import configure

BATCH = 64


def main() -> None:
    args = parse_args(__doc__)
    configure(1)  # one thread each, so the ratio compares the libraries, not their threading
    threadpool_limits(1)
    params = load_params("params.yaml")
    rng = np.random.default_rng(0)
    images = rng.random((BATCH, 1, 28, 28))
    labels = rng.integers(0, 10, BATCH)
    print(f"batch {BATCH}, one thread each (torch and numpy's BLAS), best of {args.repeats} after a warm-up")
    for variant in variants_of(params, "mytorch"):  # the models and update rules of the real profile
        values = resolve(params, "mytorch", "real", variant)
        m, t = values["model"], values["train"]
        for dtype in (np.float64, np.float32):
            twins = Twins(m, t, np.random.default_rng(0), dtype)
            x = batch_of(m["kind"], model_input(m["kind"], images.astype(dtype)), np.arange(BATCH))
            ours = best_time(lambda: twins.step_mytorch(x, labels), args.repeats)
            theirs = best_time(lambda: twins.step_torch(x, labels), args.repeats)
            print(f"{variant:4s} {np.dtype(dtype).name}: mytorch {1e3 * ours:6.2f} ms, torch {1e3 * theirs:6.2f} ms, "
                  f"ratio mytorch / torch {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
