"""SGD (with momentum) and Adam on mytorch Parameters, with torch.optim's update rules and its
L2 weight decay (added to the gradient, not decoupled as in AdamW). Parameters are updated in place,
so a layer holding `p.data` sees the new values."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from dlrepro.mytorch.module import Parameter


class Optimizer:
    def __init__(self, params: Iterable[Parameter]):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad[...] = 0

    def step(self) -> None:
        raise NotImplementedError

    def _decayed(self, p: Parameter, weight_decay: float) -> np.ndarray:
        """The gradient with the L2 term; a new array, so p.grad keeps what backward accumulated."""
        return p.grad + weight_decay * p.data if weight_decay else p.grad


class SGD(Optimizer):
    """g ← g + wd·p; with momentum μ: b ← g on the first step, μ·b + g after; p ← p − lr·b (or lr·g)."""

    def __init__(self, params: Iterable[Parameter], lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buffers: list[np.ndarray | None] = [None] * len(self.params)

    def step(self) -> None:
        for i, p in enumerate(self.params):
            grad = self._decayed(p, self.weight_decay)
            if self.momentum:
                if self.buffers[i] is None:
                    self.buffers[i] = np.array(grad, copy=True)
                else:
                    self.buffers[i] *= self.momentum
                    self.buffers[i] += grad
                grad = self.buffers[i]
            p.data -= self.lr * grad


class Adam(Optimizer):
    """Adam with bias correction (Kingma and Ba), as torch.optim.Adam without amsgrad:
    m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps)."""

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, tuple(betas), eps, weight_decay
        self.steps = 0
        self.first_moments = [np.zeros_like(p.data) for p in self.params]
        self.second_moments = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        step_size = self.lr / (1.0 - beta1 ** self.steps)
        bias_correction2_sqrt = (1.0 - beta2 ** self.steps) ** 0.5
        for p, m, v in zip(self.params, self.first_moments, self.second_moments):
            grad = self._decayed(p, self.weight_decay)
            m += (1.0 - beta1) * (grad - m)   # torch's lerp
            v *= beta2
            v += (1.0 - beta2) * grad * grad
            p.data -= step_size * m / (np.sqrt(v) / bias_correction2_sqrt + self.eps)
