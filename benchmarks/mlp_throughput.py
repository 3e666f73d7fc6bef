"""Training throughput of the 784 -> 5x1024 -> 10 MLP at batch 512, as a share of the machine's
fp32 matmul throughput measured in the same process (the ceiling for a matmul-bound model).

FLOPs of one training sample: per layer 2*in*out forward, and 4*in*out backward (gradients of
weights and inputs), except the first layer, which needs no input gradient.
"""

from __future__ import annotations

import torch

from common import best_time, device_of, mnist_like, parse_args, reference_mlp
from dlrepro.train.engine import fit

BATCH = 512
N_TRAIN = 512 * 40


def training_flops_per_sample(model) -> int:
    shapes = [(l.in_features, l.out_features) for l in [*model.hidden, model.out]]
    flops = sum(6 * i * o for i, o in shapes)
    return flops - 2 * shapes[0][0] * shapes[0][1]


def matmul_flops_per_s(device, repeats: int) -> float:
    a = torch.randn(BATCH, 1024, device=device)
    b = torch.randn(1024, 1024, device=device)
    n = 50

    def run():
        for _ in range(n):
            torch.mm(a, b)

    return n * 2 * BATCH * 1024 * 1024 / best_time(run, repeats)


def main() -> None:
    args = parse_args(__doc__)
    device = device_of(args.device)
    # A one-example validation split: fit() checks it every epoch; its cost is negligible here.
    train, val = mnist_like(N_TRAIN, device), mnist_like(1, device, seed=1)
    model = reference_mlp().to(device)

    def one_epoch():
        fit(model, train, val, epochs=1, batch_size=BATCH, optimizer="adam", lr=1e-3, lr_schedule="constant",
            generator=torch.Generator().manual_seed(0))

    train_s = best_time(one_epoch, args.repeats)
    train_rate = N_TRAIN * training_flops_per_sample(model) / train_s
    peak = matmul_flops_per_s(device, args.repeats)
    print(f"device {device}, torch threads {torch.get_num_threads()}")
    print(f"fp32 matmul ({BATCH}x1024 @ 1024x1024): {peak / 1e9:.1f} GFLOP/s")
    print(f"MLP training at batch {BATCH}: {N_TRAIN / train_s:.0f} samples/s, {train_rate / 1e9:.1f} GFLOP/s")
    print(f"ratio training / matmul: {train_rate / peak:.2f}")


if __name__ == "__main__":
    main()
