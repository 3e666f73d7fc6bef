"""Convolutions, pooling, Flatten and the scanning MLPs against torch, in float64.

Each layer's output and gradients are compared with torch.nn.functional's on the same input,
weights and upstream gradient. The scanning CNNs are compared twice: with the MLP applied by torch
to every window gathered explicitly (their outputs, and the CNN's weight gradients reshaped back
into the MLP's matrices against the MLP's own), and with the same CNN written in torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from dlrepro.mytorch import conv, scanning
from dlrepro.mytorch.proof.compare import Check
from dlrepro.mytorch.proof.twins import tensor

# The course's shapes (11-785 HW2): 24 features × 128 time steps; the MLP reads 8 steps every 4,
# 8·24 → 8 → 16 → 4. The distributed MLP factorises the window as kernels 2, 2, 2 with strides
# 2, 2, 1 (receptive field 8, hop 4): shared blocks 2·24 → 2, 2·2 → 8, 2·8 → 4.
COURSE_FEATURES, COURSE_STEPS, COURSE_WINDOW, COURSE_HOP = 24, 128, 8, 4
COURSE_WIDTHS = (8, 16, 4)
COURSE_KERNELS, COURSE_STRIDES, COURSE_BLOCK_WIDTHS = (2, 2, 2), (2, 2, 1), (2, 8, 4)


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()


def conv_run(dims: int, batch: int, in_channels: int, out_channels: int, size: Sequence[int], kernel,
             stride=1, padding=0, dilation=1, bias: bool = True):
    """A check's run for Conv1d (dims 1) or Conv2d (dims 2) against F.conv1d/F.conv2d."""
    layer_class, functional = (conv.Conv1d, F.conv1d) if dims == 1 else (conv.Conv2d, F.conv2d)

    def run(rng: np.random.Generator):
        layer = layer_class(in_channels, out_channels, kernel, stride, padding, dilation, bias, rng=rng)
        x = rng.standard_normal((batch, in_channels, *size))
        out = layer.forward(x)
        upstream = rng.standard_normal(out.shape)
        grad_input = layer.backward(upstream)

        x_t, weight_t = tensor(x, True), tensor(layer.weight.data, True)
        bias_t = tensor(layer.bias.data, True) if bias else None
        out_t = functional(x_t, weight_t, bias_t, stride, padding, dilation)
        out_t.backward(tensor(upstream))
        quantities = [("output", out, _array(out_t)), ("grad input", grad_input, _array(x_t.grad)),
                      ("grad weight", layer.weight.grad, _array(weight_t.grad))]
        if bias:
            quantities.append(("grad bias", layer.bias.grad, _array(bias_t.grad)))
        return quantities

    return run


POOLS = {"MaxPool1d": (conv.MaxPool1d, F.max_pool1d), "MaxPool2d": (conv.MaxPool2d, F.max_pool2d),
         "MeanPool1d": (conv.MeanPool1d, F.avg_pool1d), "MeanPool2d": (conv.MeanPool2d, F.avg_pool2d)}


def pool_run(name: str, batch: int, channels: int, size: Sequence[int], kernel, stride=None, ties: bool = False):
    """A check's run for a pooling layer against torch's; `ties` draws small integers, so windows hold
    equal maxima and the gradient must go to the first, as torch sends it."""
    layer_class, functional = POOLS[name]

    def run(rng: np.random.Generator):
        shape = (batch, channels, *size)
        x = rng.integers(0, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)
        layer = layer_class(kernel, stride)
        out = layer.forward(x)
        upstream = rng.standard_normal(out.shape)
        grad_input = layer.backward(upstream)

        x_t = tensor(x, True)
        out_t = functional(x_t, kernel, stride)
        out_t.backward(tensor(upstream))
        return [("output", out, _array(out_t)), ("grad input", grad_input, _array(x_t.grad))]

    return run


def flatten_run(shape: Sequence[int], start_dim: int = 1, end_dim: int = -1):
    def run(rng: np.random.Generator):
        x = rng.standard_normal(shape)
        layer = conv.Flatten(start_dim, end_dim)
        out = layer.forward(x)
        upstream = rng.standard_normal(out.shape)
        grad_input = layer.backward(upstream)

        x_t = tensor(x, True)
        out_t = torch.nn.Flatten(start_dim, end_dim)(x_t)
        out_t.backward(tensor(upstream))
        return [("output", out, _array(out_t)), ("grad input", grad_input, _array(x_t.grad)),
                ("round trip: backward(forward(x)) is x", layer.backward(out), x)]

    return run


def _mlp_blocks(rng: np.random.Generator, channels: int, kernels: Sequence[int], widths: Sequence[int]):
    """Each layer's shared block (out, kernel·in) and bias, uniform in ±1/sqrt(fan_in) as torch.nn.Linear."""
    blocks, biases, inputs = [], [], channels
    for k, width in zip(kernels, widths):
        bound = 1 / math.sqrt(k * inputs)
        blocks.append(rng.uniform(-bound, bound, (width, k * inputs)))
        biases.append(rng.uniform(-bound, bound, width))
        inputs = width
    return blocks, biases


def _torch_dense(block: torch.Tensor, kernel: int, stride: int, positions_in: int, positions_out: int) -> torch.Tensor:
    """The shared block placed at every position of the layer (zeros elsewhere), built by torch so
    that autograd sums the positions' gradients into the block's."""
    channels = block.shape[1] // kernel
    rows = [F.pad(block, (p * stride * channels, (positions_in - p * stride - kernel) * channels))
            for p in range(positions_out)]
    return torch.cat(rows)


def _torch_scan(x: torch.Tensor, weights, biases, window: int, hop: int) -> torch.Tensor:
    """The MLP applied to each window, gathered by unfold and flattened time step by time step."""
    batch, channels, _ = x.shape
    h = x.unfold(2, window, hop).permute(0, 2, 3, 1).reshape(batch, -1, window * channels)
    for layer, (weight, bias) in enumerate(zip(weights, biases)):
        h = h @ weight.T + bias
        if layer < len(weights) - 1:
            h = torch.relu(h)
    return h.permute(0, 2, 1)


def _scanning_setup(rng, variant: str, batch: int, channels: int, steps: int, kernels, strides, widths):
    blocks, biases = _mlp_blocks(rng, channels, kernels, widths)
    window, hop = scanning.receptive_field(kernels, strides), math.prod(strides)
    if variant == "simple":
        net = scanning.simple_scanning_cnn(blocks, biases, window, hop)
    else:
        weights, dense_biases = scanning.distributed_mlp_weights(blocks, biases, kernels, strides)
        net = scanning.distributed_scanning_cnn(weights, dense_biases, kernels, strides)
    x = rng.standard_normal((batch, channels, steps))
    out = net.forward(x)
    upstream = rng.standard_normal(out.shape)
    return blocks, biases, window, hop, net, x, out, upstream, net.backward(upstream)


def scanning_vs_mlp_run(variant: str, batch: int, channels: int, steps: int, kernels, strides, widths):
    """The scanning CNN against torch applying the MLP to every window explicitly: outputs, input
    gradients, and each conv's weight gradient reshaped into the MLP's block against the block's."""

    def run(rng: np.random.Generator):
        blocks, biases, window, hop, net, x, out, upstream, grad_input = _scanning_setup(
            rng, variant, batch, channels, steps, kernels, strides, widths)
        x_t = tensor(x, True)
        blocks_t = [tensor(b, True) for b in blocks]
        biases_t = [tensor(b, True) for b in biases]
        positions = [window]
        for k, s in zip(kernels, strides):
            positions.append((positions[-1] - k) // s + 1)
        dense_t = [_torch_dense(b, k, s, positions[i], positions[i + 1])
                   for i, (b, k, s) in enumerate(zip(blocks_t, kernels, strides))]
        dense_biases_t = [b.repeat(positions[i + 1]) for i, b in enumerate(biases_t)]
        out_t = _torch_scan(x_t, dense_t, dense_biases_t, window, hop)
        out_t.backward(tensor(upstream))

        mlp_weights = [_array(w) for w in dense_t]
        mlp_biases = [_array(b) for b in dense_biases_t]
        quantities = [("output", out, _array(out_t)),
                      ("numpy scan_mlp output", scanning.scan_mlp(x, mlp_weights, mlp_biases, window, hop),
                       _array(out_t)),
                      ("grad input", grad_input, _array(x_t.grad))]
        if variant == "distributed":
            ours, _ = scanning.distributed_mlp_weights(blocks, biases, kernels, strides)
            quantities += [(f"MLP weight {i + 1} from its block", w, m)
                           for i, (w, m) in enumerate(zip(ours, mlp_weights))]
        for i, (layer, block_t, bias_t) in enumerate(zip(net.convs, blocks_t, biases_t)):
            grad_block = scanning.matrix_from_conv_weight(layer.weight.grad)
            quantities += [(f"grad MLP weight {i + 1} (shared block)", grad_block, _array(block_t.grad)),
                           (f"grad MLP bias {i + 1}", layer.bias.grad, _array(bias_t.grad))]
        return quantities

    return run


def scanning_vs_torch_cnn_run(variant: str, batch: int, channels: int, steps: int, kernels, strides, widths):
    """The scanning CNN against the same CNN in torch (F.conv1d and ReLU, the weights copied)."""

    def run(rng: np.random.Generator):
        *_, net, x, out, upstream, grad_input = _scanning_setup(
            rng, variant, batch, channels, steps, kernels, strides, widths)
        x_t = tensor(x, True)
        weights_t = [tensor(layer.weight.data, True) for layer in net.convs]
        biases_t = [tensor(layer.bias.data, True) for layer in net.convs]
        h = x_t
        for i, (layer, weight, bias) in enumerate(zip(net.convs, weights_t, biases_t)):
            h = F.conv1d(h, weight, bias, layer.stride)
            if i < len(net.convs) - 1:
                h = torch.relu(h)
        h.backward(tensor(upstream))
        quantities = [("output", out, _array(h)), ("grad input", grad_input, _array(x_t.grad))]
        for i, (layer, weight, bias) in enumerate(zip(net.convs, weights_t, biases_t)):
            quantities += [(f"grad conv {i + 1} weight", layer.weight.grad, _array(weight.grad)),
                           (f"grad conv {i + 1} bias", layer.bias.grad, _array(bias.grad))]
        return quantities

    return run


_COURSE_SIMPLE = ("simple", 2, COURSE_FEATURES, COURSE_STEPS, (COURSE_WINDOW, 1, 1), (COURSE_HOP, 1, 1), COURSE_WIDTHS)
_COURSE_DISTRIBUTED = ("distributed", 2, COURSE_FEATURES, COURSE_STEPS, COURSE_KERNELS, COURSE_STRIDES,
                       COURSE_BLOCK_WIDTHS)
# Batch 1, window 5 every 3 steps over 21: the last step is read by no window.
_SMALL_SIMPLE = ("simple", 1, 3, 21, (5, 1), (3, 1), (6, 2))
# Window 4 every 2 as kernels 3, 2 with strides 1, 2: the stride sits on the last layer.
_SMALL_DISTRIBUTED = ("distributed", 1, 4, 30, (3, 2), (1, 2), (3, 5))

CHECKS: list[Check] = [
    Check("Conv1d", "batch 4, 3 → 5 channels, kernel 3", conv_run(1, 4, 3, 5, (12,), 3)),
    Check("Conv1d", "batch 1, one input channel", conv_run(1, 1, 1, 4, (9,), 2)),
    Check("Conv1d", "kernel = input length (one output)", conv_run(1, 3, 2, 3, (7,), 7)),
    Check("Conv1d", "stride 3 > kernel 2, padding 1", conv_run(1, 2, 3, 4, (11,), 2, stride=3, padding=1)),
    Check("Conv1d", "dilation 2, stride 2, padding 2", conv_run(1, 2, 3, 2, (13,), 3, stride=2, padding=2, dilation=2)),
    Check("Conv1d", "no bias", conv_run(1, 2, 3, 4, (8,), 3, bias=False)),
    Check("Conv2d", "batch 2, 3 → 4 channels, 3×3 kernel", conv_run(2, 2, 3, 4, (8, 7), 3)),
    Check("Conv2d", "batch 1, one input channel", conv_run(2, 1, 1, 3, (6, 6), 3)),
    Check("Conv2d", "non-square kernel 2×4, strides (1, 3)", conv_run(2, 2, 2, 3, (7, 11), (2, 4), stride=(1, 3))),
    Check("Conv2d", "stride (3, 2) > kernel (2, 1), padding (1, 2)",
          conv_run(2, 2, 3, 2, (8, 7), (2, 1), stride=(3, 2), padding=(1, 2))),
    Check("Conv2d", "dilation (2, 3), padding 1", conv_run(2, 2, 2, 3, (9, 10), (3, 2), padding=1, dilation=(2, 3))),
    Check("Conv2d", "kernel = input size (1×1 output)", conv_run(2, 3, 2, 4, (4, 5), (4, 5))),
    Check("Conv2d", "no bias, stride 2", conv_run(2, 2, 3, 2, (7, 7), 3, stride=2, bias=False)),
    Check("MaxPool2d", "kernel 2, stride 2", pool_run("MaxPool2d", 2, 3, (8, 6), 2)),
    Check("MaxPool2d", "stride 1 < kernel 3 (overlapping windows: gradients add)",
          pool_run("MaxPool2d", 2, 2, (7, 6), 3, 1)),
    Check("MaxPool2d", "kernel (2, 3), stride (3, 1): non-square, stride ≠ kernel",
          pool_run("MaxPool2d", 2, 2, (9, 7), (2, 3), (3, 1))),
    Check("MaxPool2d", "ties (inputs in {0, 1, 2}), overlapping: the first maximum gets the gradient",
          pool_run("MaxPool2d", 3, 2, (8, 8), 3, 2, ties=True)),
    Check("MaxPool2d", "batch 1, one channel, kernel = input size", pool_run("MaxPool2d", 1, 1, (5, 4), (5, 4))),
    Check("MaxPool1d", "kernel 3, stride 2", pool_run("MaxPool1d", 2, 3, (11,), 3, 2)),
    Check("MaxPool1d", "ties (inputs in {0, 1, 2}), stride 4 > kernel 2",
          pool_run("MaxPool1d", 3, 2, (15,), 2, 4, ties=True)),
    Check("MeanPool2d", "kernel 2, stride 2", pool_run("MeanPool2d", 2, 3, (8, 6), 2)),
    Check("MeanPool2d", "stride 1 < kernel 3 (overlapping windows)", pool_run("MeanPool2d", 2, 2, (6, 7), 3, 1)),
    Check("MeanPool2d", "kernel (3, 2), stride (2, 3): non-square, stride ≠ kernel",
          pool_run("MeanPool2d", 1, 2, (9, 8), (3, 2), (2, 3))),
    Check("MeanPool1d", "batch 1, kernel 4, stride 3", pool_run("MeanPool1d", 1, 3, (14,), 4, 3)),
    Check("Flatten", "(N, C, H, W) → (N, C·H·W) and back", flatten_run((3, 2, 4, 5))),
    Check("Flatten", "start_dim 2, end_dim 3 of a 5-d input", flatten_run((2, 3, 4, 5, 2), 2, 3)),
    Check("simple_scanning_cnn",
          "course shapes (24 × 128, window 8, hop 4, 192 → 8 → 16 → 4) vs the MLP on every window",
          scanning_vs_mlp_run(*_COURSE_SIMPLE)),
    Check("simple_scanning_cnn", "course shapes vs the same CNN in torch", scanning_vs_torch_cnn_run(*_COURSE_SIMPLE)),
    Check("simple_scanning_cnn", "batch 1, window 5, hop 3 over 21 steps (last step unread) vs the MLP on every window",
          scanning_vs_mlp_run(*_SMALL_SIMPLE)),
    Check("distributed_scanning_cnn",
          "course shapes (kernels 2, 2, 2, strides 2, 2, 1: 192 → 8 → 16 → 4) vs the shared-weight MLP "
          "on every window",
          scanning_vs_mlp_run(*_COURSE_DISTRIBUTED)),
    Check("distributed_scanning_cnn", "course shapes vs the same CNN in torch",
          scanning_vs_torch_cnn_run(*_COURSE_DISTRIBUTED)),
    Check("distributed_scanning_cnn",
          "batch 1, kernels 3, 2, strides 1, 2 (window 4, hop 2) vs the MLP on every window",
          scanning_vs_mlp_run(*_SMALL_DISTRIBUTED)),
    Check("distributed_scanning_cnn", "kernels 3, 2, strides 1, 2 vs the same CNN in torch",
          scanning_vs_torch_cnn_run(*_SMALL_DISTRIBUTED)),
]
