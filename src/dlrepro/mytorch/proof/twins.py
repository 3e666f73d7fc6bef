"""Torch twins of mytorch modules: the torch.nn module that computes the same function, holding
copies of the same weights (and running statistics), in the same dtype and train/eval mode. The
proof compares each module with its twin; the pipeline's mytorch stages train a model beside its
twin from the same initial weights."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dlrepro.mytorch import conv, layers, recurrent
from dlrepro.mytorch.mlp import MLP
from dlrepro.mytorch.module import Module

_STATELESS = {layers.Identity: nn.Identity, layers.Sigmoid: nn.Sigmoid, layers.Tanh: nn.Tanh,
              layers.ReLU: nn.ReLU}
_CONVS = {conv.Conv1d: nn.Conv1d, conv.Conv2d: nn.Conv2d}
_POOLS = {conv.MaxPool1d: nn.MaxPool1d, conv.MaxPool2d: nn.MaxPool2d,
          conv.MeanPool1d: nn.AvgPool1d, conv.MeanPool2d: nn.AvgPool2d}
_RECURRENT = {recurrent.RNN: nn.RNN, recurrent.GRU: nn.GRU}


def tensor(array: np.ndarray, grad: bool = False) -> torch.Tensor:
    """A float64 copy of `array` for the torch side of a comparison."""
    return torch.tensor(array, dtype=torch.float64, requires_grad=grad)


def _copy_into(target: torch.Tensor, array: np.ndarray) -> None:
    with torch.no_grad():
        target.copy_(torch.from_numpy(np.asarray(array)))


def copy_parameters(ours: Module, theirs: nn.Module) -> nn.Module:
    """theirs, in our parameters' dtype, with our parameters copied in (both list them in the same order)."""
    first = next(iter(ours.parameters()))
    theirs = theirs.to(torch.from_numpy(first.data).dtype)
    for mine, their in zip(ours.parameters(), theirs.parameters(), strict=True):
        _copy_into(their, mine.data)
    return theirs


class GRUClassifierTwin(nn.Module):
    """recurrent.GRUClassifier in torch: a GRU over (T, N, F), a linear head on the last hidden state."""

    def __init__(self, input_size: int, hidden: int, classes: int, layers: int):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden, num_layers=layers)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(x)[0][-1])


def torch_twin(module: Module) -> nn.Module:
    """The twin of a mytorch layer, Sequential, MLP, convolution or pooling layer, Flatten, RNN, GRU
    or GRUClassifier. An MLP's twin is the torch.nn.Sequential with the same indices, loaded through
    `MLP.state_arrays` as a pipeline loads it."""
    kind = type(module)
    if isinstance(module, MLP):
        twin = torch_twin(module.net)
        twin.load_state_dict({key: torch.from_numpy(array)
                              for key, array in zip(twin.state_dict(), module.state_arrays())})
        return twin
    if kind is layers.Sequential:
        twin = nn.Sequential(*(torch_twin(layer) for layer in module.layers))
    elif kind is layers.Linear:
        twin = copy_parameters(module, nn.Linear(module.in_features, module.out_features,
                                                 bias=module.bias is not None))
    elif kind is layers.BatchNorm1d:
        dtype = torch.from_numpy(module.weight.data).dtype
        twin = nn.BatchNorm1d(module.num_features, eps=module.eps, momentum=module.momentum, dtype=dtype)
        for name in ("weight", "bias"):
            _copy_into(getattr(twin, name), getattr(module, name).data)
        for name in ("running_mean", "running_var"):
            _copy_into(getattr(twin, name), getattr(module, name))
        twin.num_batches_tracked.fill_(module.num_batches_tracked)
    elif kind is layers.GELU:
        twin = nn.GELU(approximate=module.approximate)
    elif kind is layers.Dropout:
        twin = nn.Dropout(module.p)
    elif kind in _STATELESS:
        twin = _STATELESS[kind]()
    elif kind in _CONVS:
        out_channels, in_channels = module.weight.data.shape[:2]
        twin = copy_parameters(module, _CONVS[kind](in_channels, out_channels, module.kernel_size, module.stride,
                                                    module.padding, module.dilation, bias=module.bias is not None))
    elif kind in _POOLS:
        twin = _POOLS[kind](module.kernel_size, module.stride)
    elif kind is conv.Flatten:
        twin = nn.Flatten(module.start_dim, module.end_dim)
    elif kind in _RECURRENT:
        twin = copy_parameters(module, _RECURRENT[kind](module.input_size, module.hidden_size, module.num_layers))
    elif kind is recurrent.GRUClassifier:
        gru = module.gru
        twin = copy_parameters(module, GRUClassifierTwin(gru.input_size, gru.hidden_size,
                                                         module.head.out_features, gru.num_layers))
    else:
        raise TypeError(f"no torch twin for {kind.__name__}")
    return twin.train(module.training)
