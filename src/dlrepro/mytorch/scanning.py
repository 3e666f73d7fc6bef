"""The scanning MLPs of CMU 11-785 HW2: an MLP applied to every window of a time series is a 1-d CNN.

An MLP that reads `window` consecutive time steps of a (N, C, T) series, applied every `hop` steps,
gives at each window what a stack of Conv1d layers gives at one output position, once its weight
matrices are reshaped into kernels:

- simple scanning MLP: the first conv's kernel is the whole window (its stride the hop), the later
  convs are 1×1;
- distributed scanning MLP: within the window the MLP's neurons come in groups that share weights
  (layer l reads `kernels[l]` neighbouring groups of layer l−1, every `strides[l]` groups), so each
  conv sees part of the window and neighbouring windows reuse what they have in common.

The MLP's input is a window flattened time step by time step, as the course's (time, feature)
layout concatenates it: entry t·C + c is feature c at step t. A layer's neurons are numbered
likewise, position by position (p·out + o). Weights are torch.nn.Linear's (out, in); ReLU
follows every layer but the last.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlrepro.mytorch.conv import Conv1d
from dlrepro.mytorch.module import Module


def conv_weight_from_matrix(matrix: np.ndarray, kernel: int) -> np.ndarray:
    """A Linear weight (out, kernel·in) over `kernel` time steps flattened step by step, as the
    Conv1d weight (out, in, kernel) that computes the same sum over a window."""
    out, width = matrix.shape
    if width % kernel:
        raise ValueError(f"a weight of shape {matrix.shape} cannot read {kernel} whole time steps")
    return matrix.reshape(out, kernel, width // kernel).transpose(0, 2, 1)


def matrix_from_conv_weight(weight: np.ndarray) -> np.ndarray:
    """The inverse of `conv_weight_from_matrix`: Conv1d weight (out, in, kernel) -> (out, kernel·in)."""
    out, channels, kernel = weight.shape
    return weight.transpose(0, 2, 1).reshape(out, kernel * channels)


def receptive_field(kernels: Sequence[int], strides: Sequence[int]) -> int:
    """How many input steps one output of stacked convs sees: the scanned MLP's window."""
    return 1 + sum((k - 1) * math.prod(strides[:layer]) for layer, k in enumerate(kernels))


def _positions(kernels: Sequence[int], strides: Sequence[int]) -> list[int]:
    """How many positions (groups of shared neurons) each layer has within one window, the input's
    time steps first. They divide exactly and end at 1 because the window is the receptive field."""
    positions = [receptive_field(kernels, strides)]
    for k, s in zip(kernels, strides):
        positions.append((positions[-1] - k) // s + 1)
    return positions


def distributed_mlp_weights(blocks: Sequence[np.ndarray], biases: Sequence[np.ndarray] | None,
                            kernels: Sequence[int], strides: Sequence[int]):
    """The distributed scanning MLP as a plain MLP: each layer's dense weight and bias from its shared
    block (out, kernels[l]·in), repeated at every position of the layer within the window.

    Returns (weights, biases); biases is None when `biases` is.
    """
    positions = _positions(kernels, strides)
    weights, dense_biases = [], []
    for layer, (block, k, s) in enumerate(zip(blocks, kernels, strides)):
        out, width = block.shape
        channels = width // k
        dense = np.zeros((positions[layer + 1] * out, positions[layer] * channels), dtype=block.dtype)
        for p in range(positions[layer + 1]):
            dense[p * out:(p + 1) * out, p * s * channels:(p * s + k) * channels] = block
        weights.append(dense)
        if biases is not None:
            dense_biases.append(np.tile(biases[layer], positions[layer + 1]))
    return weights, (None if biases is None else dense_biases)


class ScanningCNN(Module):
    """Conv1d layers with ReLU between them: (N, C, T) -> (N, out, windows), output position w being
    the MLP's output on input steps [w·hop, w·hop + window)."""

    def __init__(self, convs: Sequence[Conv1d]):
        self.convs = list(convs)
        self.window = receptive_field([c.kernel_size[0] for c in self.convs], [c.stride[0] for c in self.convs])
        self.hop = math.prod(c.stride[0] for c in self.convs)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._active = []
        for conv in self.convs[:-1]:
            x = conv.forward(x)
            self._active.append(x > 0)
            x = x * self._active[-1]
        return self.convs[-1].forward(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = self.convs[-1].backward(grad)
        for conv, active in zip(reversed(self.convs[:-1]), reversed(self._active)):
            grad = conv.backward(grad * active)
        return grad


def distributed_scanning_cnn(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray] | None,
                             kernels: Sequence[int], strides: Sequence[int]) -> ScanningCNN:
    """The CNN that computes a distributed scanning MLP (weights as `distributed_mlp_weights` gives
    them) at every window, hop prod(strides), window `receptive_field(kernels, strides)`.

    Each layer's conv kernel is the block its first position uses; a ValueError says which layer's
    weights are not that block repeated (the MLP would then not be the CNN).
    """
    counts = {len(weights), len(kernels), len(strides)} | (set() if biases is None else {len(biases)})
    if len(counts) > 1:
        raise ValueError(f"{len(weights)} weights, {None if biases is None else len(biases)} biases, "
                         f"{len(kernels)} kernels and {len(strides)} strides: need one of each per layer")
    positions = _positions(kernels, strides)
    blocks, block_biases = [], []
    for layer, (weight, k) in enumerate(zip(weights, kernels)):
        rows, cols = weight.shape
        if rows % positions[layer + 1] or cols % positions[layer] or (layer and cols != weights[layer - 1].shape[0]):
            raise ValueError(f"layer {layer}: a weight of shape {weight.shape} does not have {positions[layer + 1]} "
                             f"positions reading {positions[layer]} positions of the previous layer")
        out, channels = rows // positions[layer + 1], cols // positions[layer]
        blocks.append(weight[:out, :k * channels])
        block_biases.append(None if biases is None else biases[layer][:out])
    expanded, expanded_biases = distributed_mlp_weights(
        blocks, None if biases is None else block_biases, kernels, strides)
    for layer in range(len(weights)):
        if not np.array_equal(expanded[layer], weights[layer]) or (
                biases is not None and not np.array_equal(expanded_biases[layer], biases[layer])):
            raise ValueError(f"layer {layer}'s weights are not one block shared by its {positions[layer + 1]} "
                             f"positions (kernel {kernels[layer]}, stride {strides[layer]})")
    return ScanningCNN([Conv1d.from_weights(conv_weight_from_matrix(block, k), bias, stride=s)
                        for block, bias, k, s in zip(blocks, block_biases, kernels, strides)])


def simple_scanning_cnn(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray] | None, window: int,
                        hop: int) -> ScanningCNN:
    """The CNN that computes an MLP at every window of `window` steps, every `hop` steps: the first
    conv reads the whole window (kernel `window`, stride `hop`), the later ones are 1×1. This is the
    distributed case with one position per layer."""
    layers = len(weights)
    return distributed_scanning_cnn(weights, biases, (window,) + (1,) * (layers - 1), (hop,) + (1,) * (layers - 1))


def scan_mlp(x: np.ndarray, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray] | None, window: int,
             hop: int) -> np.ndarray:
    """The MLP applied to every window explicitly: (N, C, T) -> (N, out, windows), the CNN's layout."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] < window:
        raise ValueError(f"scan_mlp expects input (N, C, T) with T >= window {window}; got shape {x.shape}")
    windows = sliding_window_view(x, window, axis=2)[:, :, ::hop]  # (N, C, windows, window)
    h = windows.transpose(0, 2, 3, 1).reshape(x.shape[0], windows.shape[2], window * x.shape[1])
    for layer, weight in enumerate(weights):
        h = h @ weight.T + (0 if biases is None else biases[layer])
        if layer < len(weights) - 1:
            h = np.maximum(h, 0)
    return h.transpose(0, 2, 1)
