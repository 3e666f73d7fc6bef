"""Shared pieces of the benchmarks: timing, the reference MLP, random MNIST-shaped data."""

from __future__ import annotations

import argparse
import time

import torch

from dlrepro.models.mlp import MLP
from dlrepro.train.engine import Split, pick_device


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (each benchmark says how it combines them)")
    return parser.parse_args()


def best_time(fn, repeats: int) -> float:
    """Best wall time of fn() over repeats, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def reference_mlp(hidden=(1024,) * 5) -> MLP:
    torch.manual_seed(0)
    return MLP(784, list(hidden), 10)


def mnist_like(n: int, device: torch.device, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    return Split(torch.rand(n, 784, generator=g).to(device), torch.randint(0, 10, (n,), generator=g).to(device))


def device_of(name: str) -> torch.device:
    return pick_device(name)
