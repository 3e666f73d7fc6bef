"""Proof of the dense layers, activations, BatchNorm1d, Dropout, Sequential, the losses, the optimisers
and the MLP: each against torch (float64, the same weights, inputs and upstream gradient), the losses
also against central finite differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from dlrepro.mytorch import layers, loss, optim
from dlrepro.mytorch.mlp import MLP
from dlrepro.mytorch.module import Module, Parameter
from dlrepro.mytorch.proof.compare import Check
from dlrepro.mytorch.proof.twins import tensor, torch_twin

Triples = list[tuple[str, np.ndarray, np.ndarray]]

def _biases_before_batchnorm(ours: Module) -> set[int]:
    """ids of the Linear biases that a training BatchNorm1d follows directly: it subtracts the batch
    mean, so their gradient is 0 in exact arithmetic and rounding noise (~1e-17) in both libraries."""
    found = set()
    for sequential in (m for m in _walk(ours) if isinstance(m, layers.Sequential)):
        for first, second in zip(sequential.layers, sequential.layers[1:]):
            if (isinstance(first, layers.Linear) and first.bias is not None
                    and isinstance(second, layers.BatchNorm1d) and second.training):
                found.add(id(first.bias))
    return found


def _parameter_grads(ours: Module, twin: nn.Module) -> Triples:
    """Every parameter's gradient, named by torch, ours paired with the twin's in order; a gradient
    that is 0 in exact arithmetic is compared with 0 (its absolute size), as noise against noise
    would give a meaningless ratio."""
    mine, theirs = list(ours.parameters()), list(twin.named_parameters())
    if len(mine) != len(theirs):
        raise ValueError(f"{len(mine)} parameters, the twin has {len(theirs)}")
    zero = _biases_before_batchnorm(ours)
    return [(f"grad {name} (0: BatchNorm follows)", p.grad.copy(), np.zeros_like(p.grad)) if id(p) in zero
            else (f"grad {name}", p.grad.copy(), t.grad.numpy().copy())
            for p, (name, t) in zip(mine, theirs)]


def _step(ours: Module, twin: nn.Module, x: np.ndarray, rng: np.random.Generator, suffix: str = "") -> Triples:
    """One forward and backward with the same input and a random upstream gradient: output, input
    gradient and every parameter gradient (gradients zeroed first on both sides; copies, as a later
    step zeroes the gradients in place)."""
    ours.zero_grad()
    twin.zero_grad(set_to_none=True)
    x_twin = tensor(x, grad=True)
    y, y_twin = ours(x), twin(x_twin)
    upstream = rng.standard_normal(y.shape)
    grad_x = ours.backward(upstream)
    y_twin.backward(torch.from_numpy(upstream))
    found = [("output", np.array(y), y_twin.detach().numpy()), ("grad input", np.array(grad_x), x_twin.grad.numpy()),
             *_parameter_grads(ours, twin)]
    return [(name + suffix, a, b) for name, a, b in found]


def _against_torch(make: Callable[[np.random.Generator], Module], shape: tuple[int, ...], scale: float = 1.0,
                   steps: int = 1, mode: str = "train") -> Callable[[np.random.Generator], Triples]:
    """A check's run: the module from `make(rng)`, its twin, `steps` forward/backward passes on inputs
    N(0, scale²) in `mode` (every step's quantities; BatchNorm's running statistics after the last)."""

    def run(rng: np.random.Generator) -> Triples:
        ours = make(rng).train(mode == "train")
        twin = torch_twin(ours)
        found = []
        for step in range(steps):
            x = scale * rng.standard_normal(shape)
            found += _step(ours, twin, x, rng, f", step {step + 1}" if steps > 1 else "")
        found += _running_statistics(ours, twin)
        return found

    return run


def _running_statistics(ours: Module, twin: nn.Module) -> Triples:
    norms = [m for m in _walk(ours) if isinstance(m, layers.BatchNorm1d)]
    twins = [m for m in twin.modules() if isinstance(m, nn.BatchNorm1d)]
    found = []
    for i, (norm, norm_twin) in enumerate(zip(norms, twins)):
        found += [(f"running mean {i}", norm.running_mean, norm_twin.running_mean.numpy()),
                  (f"running var {i}", norm.running_var, norm_twin.running_var.numpy())]
    return found


def _walk(module: Module):
    yield module
    for child in module.children():
        yield from _walk(child)


def _with_running_statistics(rng: np.random.Generator, features: int) -> layers.BatchNorm1d:
    """A BatchNorm1d whose running statistics and affine parameters are not the defaults, so eval
    mode shows it uses them."""
    norm = layers.BatchNorm1d(features, eps=1e-3)
    norm.running_mean[...] = rng.standard_normal(features)
    norm.running_var[...] = rng.uniform(0.5, 2.0, features)
    norm.weight.data[...] = rng.uniform(0.5, 1.5, features)
    norm.bias.data[...] = rng.standard_normal(features)
    return norm


def _dropout_as_torch_expression(p: float, shape: tuple[int, ...]) -> Callable[[np.random.Generator], Triples]:
    """Dropout against x·keep/(1−p) in torch, keep being the mask our layer drew."""

    def run(rng: np.random.Generator) -> Triples:
        dropout = layers.Dropout(p, rng=np.random.default_rng(rng.integers(2**32)))
        x = rng.standard_normal(shape)
        y = dropout(x)
        upstream = rng.standard_normal(shape)
        grad_x = dropout.backward(upstream)
        keep = torch.from_numpy(dropout.mask != 0 if dropout.mask is not None else np.ones(shape, dtype=bool))
        x_twin = tensor(x, grad=True)
        y_twin = torch.where(keep, x_twin / (1 - p), torch.zeros((), dtype=torch.float64))
        y_twin.backward(torch.from_numpy(upstream))
        return [("output", y, y_twin.detach().numpy()), ("grad input", grad_x, x_twin.grad.numpy())]

    return run


def _cross_entropy(n: int, classes: int, scale: float, tied: bool = False) -> Callable[[np.random.Generator], Triples]:
    """SoftmaxCrossEntropy against torch.nn.functional.cross_entropy; `tied`: every logit is `scale`
    plus N(0, 1), so only the small differences between huge logits matter."""

    def run(rng: np.random.Generator) -> Triples:
        logits = scale + rng.standard_normal((n, classes)) if tied else scale * rng.standard_normal((n, classes))
        target = rng.integers(0, classes, n)
        criterion = loss.SoftmaxCrossEntropy()
        value = criterion(logits, target)
        logits_twin = tensor(logits, grad=True)
        value_twin = nn.functional.cross_entropy(logits_twin, torch.from_numpy(target))
        value_twin.backward()
        return [("loss", np.array(value), value_twin.detach().numpy()),
                ("grad logits", criterion.backward(), logits_twin.grad.numpy())]

    return run


def _mse(shape: tuple[int, ...]) -> Callable[[np.random.Generator], Triples]:
    def run(rng: np.random.Generator) -> Triples:
        prediction, target = rng.standard_normal(shape), rng.standard_normal(shape)
        criterion = loss.MSELoss()
        value = criterion(prediction, target)
        prediction_twin = tensor(prediction, grad=True)
        value_twin = nn.functional.mse_loss(prediction_twin, torch.from_numpy(target))
        value_twin.backward()
        return [("loss", np.array(value), value_twin.detach().numpy()),
                ("grad prediction", criterion.backward(), prediction_twin.grad.numpy())]

    return run


def central_differences(f: Callable[[np.ndarray], float], x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """∂f/∂x entry by entry, (f(x + h) − f(x − h)) / 2h: error O(h²) from truncation plus
    O(ε·|f|/h) from rounding, about 1e-10 relative at h = 1e-6 for well-scaled float64 inputs."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        shifted = x.copy()
        shifted[index] = x[index] + step
        above = f(shifted)
        shifted[index] = x[index] - step
        grad[index] = (above - f(shifted)) / (2 * step)
    return grad


def _finite_differences(criterion: loss.Loss, make_inputs) -> Callable[[np.random.Generator], Triples]:
    def run(rng: np.random.Generator) -> Triples:
        prediction, target = make_inputs(rng)
        criterion(prediction, target)
        analytic = criterion.backward()
        numeric = central_differences(lambda p: criterion(p, target), prediction)
        return [("grad (central differences)", analytic, numeric)]

    return run


def _optimiser(make_ours, make_theirs, steps: int = 5) -> Callable[[np.random.Generator], Triples]:
    """Our optimiser and torch.optim's on the same starting parameters, fed the same random gradients
    for `steps` steps; the quantities are the parameters after each step."""

    def run(rng: np.random.Generator) -> Triples:
        shapes = {"weight": (4, 3), "bias": (4,)}
        ours = {name: Parameter(rng.standard_normal(shape)) for name, shape in shapes.items()}
        theirs = {name: torch.tensor(p.data, requires_grad=True) for name, p in ours.items()}
        optimiser, reference = make_ours(list(ours.values())), make_theirs(list(theirs.values()))
        found = []
        for step in range(1, steps + 1):
            for name in shapes:
                grad = rng.standard_normal(shapes[name])
                ours[name].grad[...] = grad
                theirs[name].grad = torch.from_numpy(grad.copy())
            optimiser.step()
            reference.step()
            found += [(f"{name} after step {step}", ours[name].data.copy(), theirs[name].detach().numpy().copy())
                      for name in shapes]
        return found

    return run


def _mlp_training(steps: int = 5) -> Callable[[np.random.Generator], Triples]:
    """An MLP with BatchNorm trained by our SGD on our cross-entropy beside its torch twin trained
    by torch.optim.SGD: the loss and every parameter after each step, then the eval-mode logits."""

    def run(rng: np.random.Generator) -> Triples:
        model = MLP([6, 8, 5, 3], activation="tanh", batchnorm=True, rng=rng)
        twin = torch_twin(model)
        optimiser = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        reference = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        criterion = loss.SoftmaxCrossEntropy()
        found = []
        for step in range(1, steps + 1):
            x, target = rng.standard_normal((10, 6)), rng.integers(0, 3, 10)
            optimiser.zero_grad()
            value = criterion(model(x), target)
            model.backward(criterion.backward())
            optimiser.step()
            reference.zero_grad()
            value_twin = nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(target))
            value_twin.backward()
            reference.step()
            found.append((f"loss at step {step}", np.array(value), value_twin.detach().numpy()))
            found += [(f"{name} after step {step}", p.data.copy(), t.detach().numpy().copy())
                      for p, (name, t) in zip(model.parameters(), twin.named_parameters())]
        model.eval()
        twin.eval()
        x = rng.standard_normal((4, 6))
        with torch.no_grad():
            found.append(("eval logits", model(x), twin(torch.from_numpy(x)).numpy()))
        return found

    return run


def _mlp(sizes, **options) -> Callable[[np.random.Generator], MLP]:
    return lambda rng: MLP(sizes, rng=rng, **options)


CHECKS: list[Check] = [
    Check("Linear", "batch 8, 5 -> 4", _against_torch(lambda rng: layers.Linear(5, 4, rng=rng), (8, 5))),
    Check("Linear", "batch 1", _against_torch(lambda rng: layers.Linear(7, 3, rng=rng), (1, 7))),
    Check("Linear", "wide: 3 -> 257", _against_torch(lambda rng: layers.Linear(3, 257, rng=rng), (6, 3))),
    Check("Linear", "narrow: 300 -> 1", _against_torch(lambda rng: layers.Linear(300, 1, rng=rng), (6, 300))),
    Check("Linear", "no bias", _against_torch(lambda rng: layers.Linear(5, 4, rng=rng, bias=False), (3, 5))),
    Check("Linear", "leading axes (2, 3, 5): every leading axis is batch",
          _against_torch(lambda rng: layers.Linear(5, 4, rng=rng), (2, 3, 5))),
    Check("Identity", "batch 4 x 3", _against_torch(lambda rng: layers.Identity(), (4, 3))),
    Check("Sigmoid", "N(0, 1)", _against_torch(lambda rng: layers.Sigmoid(), (6, 5))),
    Check("Sigmoid", "|x| up to ~100 (no overflow, saturated gradient)",
          _against_torch(lambda rng: layers.Sigmoid(), (6, 5), scale=40.0)),
    Check("Tanh", "N(0, 1)", _against_torch(lambda rng: layers.Tanh(), (6, 5))),
    Check("Tanh", "|x| up to ~100 (saturated)", _against_torch(lambda rng: layers.Tanh(), (6, 5), scale=40.0)),
    Check("ReLU", "N(0, 1)", _against_torch(lambda rng: layers.ReLU(), (6, 5))),
    Check("ReLU", "exact zeros (gradient 0 at 0, as torch)",
          _against_torch(lambda rng: layers.ReLU(), (6, 5), scale=0.0)),
    Check("GELU", "exact (erf), N(0, 1)", _against_torch(lambda rng: layers.GELU(), (6, 5))),
    Check("GELU", "exact (erf), |x| up to ~30 (every erf interval)",
          _against_torch(lambda rng: layers.GELU(), (20, 20), scale=8.0)),
    Check("GELU", "tanh approximation, N(0, 1)", _against_torch(lambda rng: layers.GELU("tanh"), (6, 5))),
    Check("GELU", "tanh approximation, |x| up to ~30",
          _against_torch(lambda rng: layers.GELU("tanh"), (20, 20), scale=8.0)),
    Check("BatchNorm1d", "train, batch 16 x 7", _against_torch(lambda rng: layers.BatchNorm1d(7), (16, 7))),
    Check("BatchNorm1d", "train, batch 2 (the smallest: the input gradient is only eps-sized)",
          _against_torch(lambda rng: layers.BatchNorm1d(3), (2, 3))),
    Check("BatchNorm1d", "train, 3 steps, momentum 0.3: running statistics (unbiased variance)",
          _against_torch(lambda rng: layers.BatchNorm1d(5, momentum=0.3), (6, 5), scale=3.0, steps=3)),
    Check("BatchNorm1d", "eval: running statistics, eps 1e-3, affine not the default",
          _against_torch(lambda rng: _with_running_statistics(rng, 5), (6, 5), mode="eval")),
    Check("BatchNorm1d", "eval, batch 1", _against_torch(lambda rng: _with_running_statistics(rng, 4), (1, 4),
                                                          mode="eval")),
    Check("Dropout", "p 0.5, the mask as a torch expression", _dropout_as_torch_expression(0.5, (16, 9))),
    Check("Dropout", "p 0.9", _dropout_as_torch_expression(0.9, (16, 9))),
    Check("Dropout", "p 0: identity", _dropout_as_torch_expression(0.0, (4, 3))),
    Check("Dropout", "eval: identity, as torch.nn.Dropout",
          _against_torch(lambda rng: layers.Dropout(0.5, rng=rng), (4, 3), mode="eval")),
    Check("Sequential", "Linear -> Tanh -> Linear -> GELU -> Linear",
          _against_torch(lambda rng: layers.Sequential(layers.Linear(5, 8, rng=rng), layers.Tanh(),
                                                       layers.Linear(8, 6, rng=rng), layers.GELU(),
                                                       layers.Linear(6, 2, rng=rng)), (7, 5))),
    Check("Sequential", "Linear -> BatchNorm1d -> ReLU, train",
          _against_torch(lambda rng: layers.Sequential(layers.Linear(4, 6, rng=rng), layers.BatchNorm1d(6),
                                                       layers.ReLU()), (9, 4))),
    Check("Sequential", "empty: identity", _against_torch(lambda rng: layers.Sequential(), (3, 2))),
    Check("SoftmaxCrossEntropy", "batch 32, 10 classes", _cross_entropy(32, 10, 1.0)),
    Check("SoftmaxCrossEntropy", "batch 1", _cross_entropy(1, 5, 1.0)),
    Check("SoftmaxCrossEntropy", "logits ~ +-1e4 (stability: saturated softmax, loss ~1e4)",
          _cross_entropy(8, 6, 1e4)),
    Check("SoftmaxCrossEntropy", "logits 1e4 + N(0, 1) (stability: small differences of huge logits)",
          _cross_entropy(8, 6, 1e4, tied=True)),
    Check("SoftmaxCrossEntropy", "central differences, step 1e-6, batch 5 x 4",
          _finite_differences(loss.SoftmaxCrossEntropy(),
                              lambda rng: (rng.standard_normal((5, 4)), rng.integers(0, 4, 5)))),
    Check("MSELoss", "batch 8 x 3", _mse((8, 3))),
    Check("MSELoss", "one element", _mse((1,))),
    Check("MSELoss", "central differences, step 1e-6, batch 5 x 4",
          _finite_differences(loss.MSELoss(), lambda rng: (rng.standard_normal((5, 4)), rng.standard_normal((5, 4))))),
    Check("SGD", "lr 0.1, 5 steps", _optimiser(lambda p: optim.SGD(p, lr=0.1),
                                              lambda p: torch.optim.SGD(p, lr=0.1))),
    Check("SGD", "momentum 0.9, weight decay 0.01, 5 steps",
          _optimiser(lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01),
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01))),
    Check("Adam", "defaults, 5 steps", _optimiser(lambda p: optim.Adam(p), lambda p: torch.optim.Adam(p))),
    Check("Adam", "lr 0.01, betas (0.5, 0.9), eps 1e-6, weight decay 0.1, 5 steps",
          _optimiser(lambda p: optim.Adam(p, lr=0.01, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1),
                     lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1))),
    Check("MLP", "relu, 10 -> 16 -> 8 -> 4, no BatchNorm", _against_torch(_mlp([10, 16, 8, 4]), (12, 10))),
    Check("MLP", "no hidden layer: one Linear", _against_torch(_mlp([10, 3]), (5, 10))),
    Check("MLP", "BatchNorm + GELU, train, 2 steps",
          _against_torch(_mlp([10, 16, 8, 4], activation="gelu", batchnorm=True), (12, 10), steps=2)),
    Check("MLP", "BatchNorm + sigmoid + dropout 0.3, eval (running statistics, dropout off)",
          _against_torch(_mlp([10, 16, 4], activation="sigmoid", batchnorm=True, dropout=0.3), (12, 10),
                         mode="eval")),
    Check("MLP", "BatchNorm + tanh, 5 SGD steps (momentum, weight decay) on cross-entropy beside torch",
          _mlp_training()),
]
