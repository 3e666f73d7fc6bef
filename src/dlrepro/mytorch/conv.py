"""Convolutions, pooling and Flatten over (N, C, *spatial) arrays, in torch's layouts and semantics.

Every layer looks at its input as windows (`sliding_window_view`, a view: nothing is copied until
the one tensordot or reduction that uses them), so a convolution is one contraction over the
windows and a pooling one reduction. The backward is the windowing's adjoint: the windows'
gradients are added back onto the input with a loop over the kernel's offsets only. For a fixed
offset the strided windows touch distinct input positions, so one slice-add per offset does what
`np.add.at` would do, without its per-element cost.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlrepro.mytorch.module import Module, Parameter

Sizes = tuple[int, ...]


def _sizes(value, dims: int, name: str, smallest: int) -> Sizes:
    """An int or a sequence of `dims` ints (torch accepts both) as a tuple, each at least `smallest`."""
    sizes = (int(value),) * dims if np.ndim(value) == 0 else tuple(int(v) for v in value)
    if len(sizes) != dims or min(sizes) < smallest:
        raise ValueError(f"{name} must be {dims} int(s) >= {smallest}; got {value!r}")
    return sizes


def _show(sizes: Sizes):
    """1-d sizes as a bare number, so messages read "length 3" rather than "length (3,)"."""
    return sizes[0] if len(sizes) == 1 else sizes


def _check_input(layer: str, x: np.ndarray, dims: int, channels: int | None = None) -> None:
    axes = ("N", "C", "L") if dims == 1 else ("N", "C", "H", "W")
    if x.ndim != 2 + dims:
        raise ValueError(f"{layer} expects input ({', '.join(axes)}); got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{layer} expects {channels} input channels; got shape {x.shape}")


def _windows(layer: str, x: np.ndarray, kernel: Sizes, stride: Sizes, dilation: Sizes,
             padding: Sizes | None) -> np.ndarray:
    """The (N, C, *out, *kernel) view of x's windows, as torch's convolution and pooling take them.

    x comes already padded; `padding` (None for pooling, which has none) is only for the message.
    """
    dims = len(kernel)
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    spatial = x.shape[2:]
    if any(s < e for s, e in zip(spatial, extent)):
        size = "length" if dims == 1 else "size"
        if padding is None:
            raise ValueError(f"{layer}: input {size} {_show(spatial)} is shorter than the kernel {_show(kernel)}")
        unpadded = tuple(s - 2 * p for s, p in zip(spatial, padding))
        raise ValueError(
            f"{layer}: input {size} {_show(unpadded)} (padding {_show(padding)} each side) is shorter than "
            f"the kernel's extent {_show(extent)} (kernel {_show(kernel)}, dilation {_show(dilation)})")
    view = sliding_window_view(x, extent, axis=tuple(range(2, 2 + dims)))
    take = (slice(None),) * 2 + tuple(slice(None, None, s) for s in stride) \
        + tuple(slice(None, None, d) for d in dilation)
    return view[take]


def _add_windows_back(grad_windows: np.ndarray, input_shape: tuple[int, ...], stride: Sizes,
                      dilation: Sizes) -> np.ndarray:
    """The adjoint of `_windows`: each window's gradient (N, C, *out, *kernel) added back onto an
    input of `input_shape` (positions no window reads get zero, as in torch)."""
    dims = len(stride)
    out = grad_windows.shape[2:2 + dims]
    kernel = grad_windows.shape[2 + dims:]
    grad_input = np.zeros(input_shape, dtype=grad_windows.dtype)
    for offset in np.ndindex(*kernel):
        target = (slice(None),) * 2 + tuple(
            slice(o * d, o * d + s * (n - 1) + 1, s) for o, d, s, n in zip(offset, dilation, stride, out))
        grad_input[target] += grad_windows[(Ellipsis, *offset)]
    return grad_input


def _check_grad(layer: str, grad: np.ndarray, expected: tuple[int, ...]) -> np.ndarray:
    grad = np.asarray(grad)
    if grad.shape != expected:
        raise ValueError(f"{layer}: gradient of shape {grad.shape} for an output of shape {expected}")
    return grad


class _ConvNd(Module):
    """Cross-correlation with zero padding, stride and dilation, as torch.nn.Conv1d/Conv2d.

    weight (out_channels, in_channels, *kernel) and bias (out_channels,) are drawn as torch does,
    uniform in ±1/sqrt(in_channels · kernel area), from `rng`.
    """

    dims: int

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, *, rng: np.random.Generator, dtype=np.float64):
        kernel = _sizes(kernel_size, self.dims, "kernel_size", 1)
        bound = 1 / math.sqrt(in_channels * math.prod(kernel))
        weight = rng.uniform(-bound, bound, (out_channels, in_channels, *kernel)).astype(dtype)
        bias_data = rng.uniform(-bound, bound, out_channels).astype(dtype) if bias else None
        self._set_up(weight, bias_data, stride, padding, dilation)

    @classmethod
    def from_weights(cls, weight: np.ndarray, bias: np.ndarray | None = None, stride=1, padding=0,
                     dilation=1):
        """A layer holding the given arrays (e.g. built from another network's weights)."""
        layer = cls.__new__(cls)
        layer._set_up(np.array(weight), None if bias is None else np.array(bias), stride, padding, dilation)
        return layer

    def _set_up(self, weight, bias, stride, padding, dilation) -> None:
        if weight.ndim != 2 + self.dims:
            raise ValueError(f"{type(self).__name__} weight must be (out, in, *kernel) with {self.dims} "
                             f"kernel axes; got shape {weight.shape}")
        if bias is not None and bias.shape != weight.shape[:1]:
            raise ValueError(f"bias of shape {bias.shape} for a weight of shape {weight.shape}")
        self.weight = Parameter(weight)
        self.bias = None if bias is None else Parameter(bias)
        self.stride = _sizes(stride, self.dims, "stride", 1)
        self.padding = _sizes(padding, self.dims, "padding", 0)
        self.dilation = _sizes(dilation, self.dims, "dilation", 1)

    @property
    def kernel_size(self) -> Sizes:
        return self.weight.data.shape[2:]

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):  # computing in an integer input's dtype would truncate
            x = x.astype(self.weight.data.dtype)
        name = type(self).__name__
        _check_input(name, x, self.dims, self.weight.data.shape[1])
        padded = np.pad(x, ((0, 0), (0, 0), *((p, p) for p in self.padding))) if any(self.padding) else x
        windows = _windows(name, padded, self.kernel_size, self.stride, self.dilation, self.padding)
        weight = self.weight.data.astype(x.dtype, copy=False)
        dims = self.dims
        # Contract channels and kernel offsets: (N, C, *out, *k) · (O, C, *k) -> (N, *out, O).
        out = np.tensordot(windows, weight, axes=([1, *range(2 + dims, 2 + 2 * dims)], [1, *range(2, 2 + dims)]))
        out = np.moveaxis(out, -1, 1)
        if self.bias is not None:
            out = out + self.bias.data.astype(x.dtype, copy=False).reshape(-1, *(1,) * dims)
        self._windows, self._padded_shape, self._input_shape = windows, padded.shape, x.shape
        self._output_shape = out.shape
        return np.ascontiguousarray(out)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = _check_grad(type(self).__name__, grad, self._output_shape)
        dims = self.dims
        spatial = tuple(range(2, 2 + dims))
        # Every output position saw one window; the weight's gradient sums grad ⊗ window over them.
        self.weight.grad += np.tensordot(grad, self._windows, axes=([0, *spatial], [0, *spatial]))
        if self.bias is not None:
            self.bias.grad += grad.sum(axis=(0, *spatial))
        weight = self.weight.data.astype(grad.dtype, copy=False)
        grad_windows = np.moveaxis(np.tensordot(grad, weight, axes=([1], [0])), 1 + dims, 1)
        grad_padded = _add_windows_back(grad_windows, self._padded_shape, self.stride, self.dilation)
        unpad = (slice(None),) * 2 + tuple(slice(p, s - p) for p, s in zip(self.padding, self._padded_shape[2:]))
        return grad_padded[unpad]


class Conv1d(_ConvNd):
    """torch.nn.Conv1d: input (N, C_in, L), weight (C_out, C_in, k), output (N, C_out, L_out)."""

    dims = 1


class Conv2d(_ConvNd):
    """torch.nn.Conv2d: input (N, C_in, H, W), weight (C_out, C_in, kh, kw), output (N, C_out, H_out, W_out)."""

    dims = 2


class _PoolNd(Module):
    """Pooling over each channel's windows; the stride defaults to the kernel, as in torch."""

    dims: int

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = _sizes(kernel_size, self.dims, "kernel_size", 1)
        self.stride = _sizes(kernel_size if stride is None else stride, self.dims, "stride", 1)

    def _windows(self, x: np.ndarray) -> np.ndarray:
        _check_input(type(self).__name__, x, self.dims)
        return _windows(type(self).__name__, x, self.kernel_size, self.stride, (1,) * self.dims, None)

    def _add_back(self, grad_windows: np.ndarray) -> np.ndarray:
        return _add_windows_back(grad_windows, self._input_shape, self.stride, (1,) * self.dims)


class _MaxPoolNd(_PoolNd):
    """Each window's maximum; the backward sends an output's gradient to the input that was the
    maximum, the first in the window (row-major) on ties, as torch's CPU kernel does."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        windows = self._windows(x)
        flat = windows.reshape(*windows.shape[:2 + self.dims], -1)
        self._argmax = flat.argmax(axis=-1)[..., None]
        self._input_shape, self._windows_shape = x.shape, windows.shape
        return np.take_along_axis(flat, self._argmax, axis=-1)[..., 0]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = _check_grad(type(self).__name__, grad, self._argmax.shape[:-1])
        grad_flat = np.zeros((*grad.shape, math.prod(self.kernel_size)), dtype=grad.dtype)
        np.put_along_axis(grad_flat, self._argmax, grad[..., None], axis=-1)
        return self._add_back(grad_flat.reshape(self._windows_shape))


class _MeanPoolNd(_PoolNd):
    """Each window's mean (torch's avg_pool without padding); the backward spreads an output's
    gradient evenly over its window."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        windows = self._windows(x)
        self._input_shape, self._windows_shape = x.shape, windows.shape
        return windows.mean(axis=tuple(range(-self.dims, 0)))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = _check_grad(type(self).__name__, grad, self._windows_shape[:2 + self.dims])
        share = grad[(Ellipsis, *(None,) * self.dims)] / math.prod(self.kernel_size)
        return self._add_back(np.broadcast_to(share, self._windows_shape))


class MaxPool1d(_MaxPoolNd):
    """torch.nn.MaxPool1d(kernel_size, stride) on (N, C, L)."""

    dims = 1


class MaxPool2d(_MaxPoolNd):
    """torch.nn.MaxPool2d(kernel_size, stride) on (N, C, H, W)."""

    dims = 2


class MeanPool1d(_MeanPoolNd):
    """torch.nn.AvgPool1d(kernel_size, stride) on (N, C, L)."""

    dims = 1


class MeanPool2d(_MeanPoolNd):
    """torch.nn.AvgPool2d(kernel_size, stride) on (N, C, H, W)."""

    dims = 2


class Flatten(Module):
    """torch.nn.Flatten: axes start_dim..end_dim merged into one (by default all but the batch)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        start, end = (d % x.ndim for d in (self.start_dim, self.end_dim))
        if start > end:
            raise ValueError(f"Flatten({self.start_dim}, {self.end_dim}) is empty for input of shape {x.shape}")
        self._input_shape = x.shape
        return x.reshape(*x.shape[:start], -1, *x.shape[end + 1:])

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.asarray(grad).reshape(self._input_shape)
