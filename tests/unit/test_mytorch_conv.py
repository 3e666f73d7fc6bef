"""mytorch's convolutions, pooling, Flatten and scanning MLPs: the proof's checks, the same
comparisons with torch over random shapes, and the layers' behaviour on bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlrepro.mytorch import conv, scanning
from dlrepro.mytorch.proof import conv as proof
from dlrepro.mytorch.proof.compare import TOLERANCE, Check


@pytest.mark.parametrize("check", proof.CHECKS, ids=lambda c: f"{c.module}: {c.case}")
def test_check(check: Check):
    errors = check.errors()
    assert errors and max(errors.values()) <= TOLERANCE, errors


def assert_matches_torch(run, seed: int) -> None:
    errors = Check("random", "random", run).errors(seed)
    assert max(errors.values()) <= TOLERANCE, errors


@st.composite
def window_axis(draw, padded: bool = True):
    """One spatial axis: (size, kernel, stride, padding, dilation) with at least one output."""
    kernel, stride = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(st.integers(0, 2)) if padded else 0
    dilation = draw(st.integers(1, 3)) if padded else 1
    extent = dilation * (kernel - 1) + 1
    size = max(1, extent - 2 * padding) + draw(st.integers(0, 6))
    return size, kernel, stride, padding, dilation


@settings(max_examples=100, deadline=None)
@given(batch=st.integers(1, 3), channels=st.integers(1, 3), out_channels=st.integers(1, 3),
       axis=window_axis(), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv1d_matches_torch(batch, channels, out_channels, axis, bias, seed):
    size, kernel, stride, padding, dilation = axis
    assert_matches_torch(proof.conv_run(1, batch, channels, out_channels, (size,), kernel, stride, padding,
                                        dilation, bias), seed)


@settings(max_examples=100, deadline=None)
@given(batch=st.integers(1, 3), channels=st.integers(1, 3), out_channels=st.integers(1, 3),
       rows=window_axis(), cols=window_axis(), seed=st.integers(0, 2**16))
def test_conv2d_matches_torch(batch, channels, out_channels, rows, cols, seed):
    size, kernel, stride, padding, dilation = zip(rows, cols)
    assert_matches_torch(proof.conv_run(2, batch, channels, out_channels, size, kernel, stride, padding,
                                        dilation), seed)


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(sorted(proof.POOLS)), batch=st.integers(1, 3), channels=st.integers(1, 3),
       rows=window_axis(padded=False), cols=window_axis(padded=False), ties=st.booleans(),
       seed=st.integers(0, 2**16))
def test_pooling_matches_torch(name, batch, channels, rows, cols, ties, seed):
    axes = (rows,) if name.endswith("1d") else (rows, cols)
    size, kernel, stride = (tuple(a[i] for a in axes) for i in range(3))
    assert_matches_torch(proof.pool_run(name, batch, channels, size, kernel, stride, ties), seed)


@settings(max_examples=50, deadline=None)
@given(variant=st.sampled_from(["simple", "distributed"]), batch=st.integers(1, 2), channels=st.integers(1, 4),
       layers=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4)), min_size=1, max_size=3),
       extra_steps=st.integers(0, 9), seed=st.integers(0, 2**16))
def test_scanning_cnn_is_the_mlp_on_every_window(variant, batch, channels, layers, extra_steps, seed):
    kernels, strides, widths = zip(*layers)
    if variant == "simple":  # one window-wide kernel, then 1×1 convs
        kernels = (scanning.receptive_field(kernels, strides),) + (1,) * (len(layers) - 1)
        strides = (math.prod(strides),) + (1,) * (len(layers) - 1)
    steps = scanning.receptive_field(kernels, strides) + extra_steps
    assert_matches_torch(proof.scanning_vs_mlp_run(variant, batch, channels, steps, kernels, strides, widths), seed)


@pytest.mark.parametrize("layer, shape, message", [
    (conv.Conv1d(2, 3, 3, dilation=2, rng=np.random.default_rng(0)), (1, 2, 4),
     r"input length 4 \(padding 0 each side\) is shorter than the kernel's extent 5 \(kernel 3, dilation 2\)"),
    (conv.Conv1d(2, 3, 6, padding=1, rng=np.random.default_rng(0)), (1, 2, 3),
     r"input length 3 \(padding 1 each side\) is shorter than the kernel's extent 6 \(kernel 6"),
    (conv.Conv2d(1, 1, (2, 5), rng=np.random.default_rng(0)), (2, 1, 6, 4),
     r"input size \(6, 4\) .* kernel's extent \(2, 5\) \(kernel \(2, 5\)"),
    (conv.MaxPool2d(3), (1, 1, 2, 8), r"MaxPool2d: input size \(2, 8\) is shorter than the kernel \(3, 3\)"),
    (conv.MeanPool1d(4, 1), (1, 1, 3), r"MeanPool1d: input length 3 is shorter than the kernel 4"),
])
def test_input_shorter_than_kernel_names_both(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer.forward(np.zeros(shape))


def test_wrong_rank_or_channels_names_the_shape():
    layer = conv.Conv2d(3, 2, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"expects input \(N, C, H, W\); got shape \(3, 5, 5\)"):
        layer.forward(np.zeros((3, 5, 5)))
    with pytest.raises(ValueError, match=r"expects 3 input channels; got shape \(1, 4, 5, 5\)"):
        layer.forward(np.zeros((1, 4, 5, 5)))
    layer.forward(np.zeros((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"gradient of shape \(1, 2, 3, 3\) for an output of shape \(1, 2, 4, 4\)"):
        layer.backward(np.zeros((1, 2, 3, 3)))


def test_init_as_torch_from_the_given_rng():
    layer = conv.Conv2d(3, 4, (2, 5), rng=np.random.default_rng(7))
    bound = 1 / math.sqrt(3 * 2 * 5)
    assert [p.data.shape for p in layer.parameters()] == [(4, 3, 2, 5), (4,)]
    assert all(np.abs(p.data).max() <= bound for p in layer.parameters())
    again = conv.Conv2d(3, 4, (2, 5), rng=np.random.default_rng(7))
    assert all(np.array_equal(a.data, b.data) for a, b in zip(layer.parameters(), again.parameters()))
    assert list(conv.Conv1d(2, 2, 3, bias=False, rng=np.random.default_rng(0)).parameters())[0].data.shape == (2, 2, 3)


def test_backward_accumulates_parameter_gradients():
    rng = np.random.default_rng(0)
    layer = conv.Conv1d(2, 3, 3, stride=2, rng=rng)
    x = rng.standard_normal((2, 2, 9))
    upstream = rng.standard_normal(layer.forward(x).shape)
    layer.backward(upstream)
    once = [p.grad.copy() for p in layer.parameters()]
    layer.forward(x)
    layer.backward(upstream)
    assert all(np.allclose(p.grad, 2 * g) for p, g in zip(layer.parameters(), once))
    layer.zero_grad()
    assert all(not p.grad.any() for p in layer.parameters())


def test_output_dtype_follows_a_float_input():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    for layer in (conv.Conv2d(3, 2, 3, padding=1, rng=rng), conv.MaxPool2d(2), conv.MeanPool2d(2), conv.Flatten()):
        out = layer.forward(x)
        assert out.dtype == np.float32
        assert layer.backward(np.ones_like(out)).dtype == np.float32
    assert conv.Conv1d(1, 1, 2, rng=rng).forward(np.arange(4).reshape(1, 1, 4)).dtype == np.float64


def test_distributed_cnn_refuses_weights_that_are_not_shared():
    rng = np.random.default_rng(0)
    kernels, strides = proof.COURSE_KERNELS, proof.COURSE_STRIDES
    blocks, biases = proof._mlp_blocks(rng, proof.COURSE_FEATURES, kernels, proof.COURSE_BLOCK_WIDTHS)
    weights, dense_biases = scanning.distributed_mlp_weights(blocks, biases, kernels, strides)
    assert [w.shape for w in weights] == [(8, 192), (16, 8), (4, 16)]  # the course's 8·24 → 8 → 16 → 4
    net = scanning.distributed_scanning_cnn(weights, dense_biases, kernels, strides)
    assert (net.window, net.hop) == (8, 4)
    weights[1][9, 5] += 1.0  # the second position of layer 2 no longer uses the shared block
    with pytest.raises(ValueError, match="layer 1's weights are not one block shared by its 2 positions"):
        scanning.distributed_scanning_cnn(weights, dense_biases, kernels, strides)


def test_simple_cnn_weight_reshape_round_trips():
    matrix = np.arange(4 * 3 * 5.0).reshape(4, 15)  # 4 neurons over 5 steps of 3 features
    weight = scanning.conv_weight_from_matrix(matrix, 5)
    assert weight.shape == (4, 3, 5)
    assert weight[2, 1, 4] == matrix[2, 4 * 3 + 1]  # feature 1 at step 4
    assert np.array_equal(scanning.matrix_from_conv_weight(weight), matrix)
