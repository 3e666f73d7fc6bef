"""Cost of SVD in the loop: one training step of the 784 -> 5x1024 -> 10 MLP whose hidden layers
compute their rank-D reconstruction in every forward pass, divided by the same step with plain
layers, for the exact SVD (torch.linalg.svd) and the randomized one (torch.svd_lowrank).
"""

from __future__ import annotations

import copy

import torch

from common import best_time, device_of, mnist_like, parse_args, reference_mlp
from dlrepro.experiments.svd_compress import prepare
from dlrepro.train.engine import make_optimizer

BATCH = 200
RANK = 20


def step_fn(model, batch):
    opt = make_optimizer("adam", model.parameters(), 1e-3)

    def step():
        loss = torch.nn.functional.cross_entropy(model(batch.x), batch.y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main() -> None:
    args = parse_args(__doc__)
    device = device_of(args.device)
    batch = mnist_like(BATCH, device)
    plain = reference_mlp().to(device)
    plain_s = best_time(step_fn(plain, batch), args.repeats)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {BATCH}, rank {RANK}")
    print(f"plain layers: {1e3 * plain_s:.1f} ms per training step")
    for svd in ("randomized", "exact"):
        loop = {"svd": svd, "oversample": 10, "power_iterations": 2}
        model = prepare(copy.deepcopy(plain), {"rank": RANK, "sparsity": 0.0, "training": "loop"}, loop)
        loop_s = best_time(step_fn(model, batch), args.repeats)
        print(f"SVD in the loop ({svd}): {1e3 * loop_s:.1f} ms per step, ratio loop / plain: {loop_s / plain_s:.1f}")


if __name__ == "__main__":
    main()
