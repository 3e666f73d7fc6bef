"""SGD, heavy-ball momentum and Adam, and the learning-rate schedules, in a few foreach tensor ops.

Why not torch.optim: its optimisers import torch._dynamo (about 1.4 s) in every process that
steps one, unconditionally in torch 2.13 (`Optimizer.__init__` and every `step`). Every stage is
its own short process, so with about 180 stages that import cost minutes of the embedded
pipeline. These classes apply torch.optim's update rules for the settings the pipeline uses
(SGD without dampening or Nesterov, Adam without weight decay or amsgrad) with the same tensor
operations in the same order: tests/unit/test_optim.py checks them against torch.optim step for
step, bit for bit in float32 and float64.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Iterator

import torch


class Optimizer:
    """Parameter groups (dicts with "params" and their own settings, e.g. "lr") and per-parameter state."""

    def __init__(self, params: Iterable, defaults: dict):
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.param_groups = [{**defaults, **g, "params": list(g["params"])} for g in groups]
        self.state: dict[torch.Tensor, dict] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    def _groups_with_grads(self) -> Iterator[tuple[dict, list[torch.Tensor]]]:
        """Each group and its parameters that have a gradient (groups with none skipped, as torch does)."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                yield group, params


class SGD(Optimizer):
    """p ← p − lr·g, or with momentum μ: b ← μ·b + g (b = g on the first step), p ← p − lr·b."""

    def __init__(self, params: Iterable, lr: float, momentum: float = 0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self) -> None:
        for group, params in self._groups_with_grads():
            grads = [p.grad for p in params]
            if group["momentum"]:
                buffers = []
                for p, g in zip(params, grads):
                    state = self.state.setdefault(p, {})
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = g.detach().clone()
                    else:
                        state["momentum_buffer"].mul_(group["momentum"]).add_(g)
                    buffers.append(state["momentum_buffer"])
                grads = buffers
            torch._foreach_add_(params, grads, alpha=-group["lr"])


class Adam(Optimizer):
    """Adam (Kingma and Ba) with bias correction, as torch.optim.Adam without weight decay or amsgrad."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps})

    @torch.no_grad()
    def step(self) -> None:
        for group, params in self._groups_with_grads():
            beta1, beta2 = group["betas"]
            states = []
            for p in params:
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {"step": 0, "exp_avg": torch.zeros_like(p),
                                             "exp_avg_sq": torch.zeros_like(p)}
                state["step"] += 1
                states.append(state)
            grads = [p.grad for p in params]
            exp_avgs = [s["exp_avg"] for s in states]
            exp_avg_sqs = [s["exp_avg_sq"] for s in states]
            torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
            torch._foreach_mul_(exp_avg_sqs, beta2)
            torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
            # Parameters added to a group later have their own step counts: grouped by count.
            for step in sorted({s["step"] for s in states}):
                idx = [i for i, s in enumerate(states) if s["step"] == step]
                step_size = group["lr"] / (1 - beta1 ** step)
                bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
                denom = torch._foreach_sqrt([exp_avg_sqs[i] for i in idx])
                torch._foreach_div_(denom, bias_correction2_sqrt)
                torch._foreach_add_(denom, group["eps"])
                torch._foreach_addcdiv_([params[i] for i in idx], [exp_avgs[i] for i in idx], denom, -step_size)


class Schedule:
    """Each group's learning rate = its initial one × factor(step), step counted from 0 (what
    torch.optim.lr_scheduler.LambdaLR does): set at construction, then after every step()."""

    def __init__(self, optimizer: Optimizer, factor: Callable[[int], float]):
        self.optimizer, self.factor, self.last_step = optimizer, factor, 0
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self._apply()

    def _apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * self.factor(self.last_step)

    def step(self) -> None:
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]


def cosine(total_steps: int) -> Callable[[int], float]:
    """From 1 down to 0 over total_steps, half a cosine; 0 after."""
    return lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
