"""The two base types: a parameter with its gradient, and a module that knows its parameters."""
from collections.abc import Iterator

import numpy as np


class Parameter:
    """A trainable array and the gradient that `backward` accumulates into it (zeroed by the optimiser)."""

    def __init__(self, data: np.ndarray):
        self.data = np.asarray(data)
        self.grad = np.zeros_like(self.data)


def uniform_parameter(rng: np.random.Generator, bound: float, shape: tuple[int, ...], dtype) -> Parameter:
    """U(−bound, bound), torch's initialisation of every layer here, drawn in float64 and then cast,
    so float32 and float64 layers start from the same values."""
    return Parameter(rng.uniform(-bound, bound, size=shape).astype(dtype))


class Module:
    """A layer: `forward(x)` then `backward(grad_of_output) -> grad_of_input`.

    Parameters are found in the attributes, in the order they were set: a `Parameter`, a `Module`
    (its parameters, recursively) or a list or tuple of them. `training` switches the layers
    that behave differently when evaluated (BatchNorm, Dropout); `train()` and `eval()` set it on
    every sub-module.
    """

    training = True

    def forward(self, *inputs):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def children(self) -> Iterator["Module"]:
        for value in vars(self).values():
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(item, Module):
                    yield item

    def parameters(self) -> Iterator[Parameter]:
        for value in vars(self).values():
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(item, Parameter):
                    yield item
                elif isinstance(item, Module):
                    yield from item.parameters()

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad[...] = 0

    def train(self, mode: bool = True) -> "Module":
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)
