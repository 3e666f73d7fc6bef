"""Dense layers, activations, BatchNorm1d, Dropout and Sequential, in torch.nn's layouts and semantics."""

from __future__ import annotations

import math

import numpy as np

from dlrepro.mytorch.module import Module, Parameter, uniform_parameter

# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969),
# coefficients as in his CALERF (netlib specfun): erf on |x| <= 0.46875 from a rational function
# of x², erfc on 0.46875 < |x| <= 4 from one of |x|, and erfc on |x| > 4 from one of 1/x².
# Relative error below 1e-16 in each interval; numpy has no erf and scipy is not a dependency here.
_ERF_SMALL_NUM = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
                  3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_SMALL_DEN = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
                  2.84423683343917062e03)
_ERFC_MID_NUM = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
                 2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
                 2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_ERFC_MID_DEN = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
                 1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
                 3.43936767414372164e03, 1.23033935480374942e03)
_ERFC_TAIL_NUM = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
                  1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERFC_TAIL_DEN = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
                  6.05183413124413191e-2, 2.33520497626869185e-3)
_ERF_SMALL_LIMIT = 0.46875
_ERFC_UNDERFLOW = 26.543       # erfc(x) is below the smallest double beyond this
_INV_SQRT_PI = 5.6418958354775628695e-1


def _rational(num, den, t):
    """Cody's nested (Horner) form: num's last coefficient leads, den is monic."""
    top, bottom = num[-1] * t, t
    for a, b in zip(num[:len(den) - 1], den[:-1]):
        top, bottom = (top + a) * t, (bottom + b) * t
    return top + num[len(den) - 1], bottom + den[-1]


def _erf_small(x: np.ndarray) -> np.ndarray:
    """erf(x), accurate for |x| <= 0.46875."""
    top, bottom = _rational(_ERF_SMALL_NUM, _ERF_SMALL_DEN, x * x)
    return x * top / bottom


def _erfc_large(y: np.ndarray) -> np.ndarray:
    """erfc(y) for y > 0.46875; each interval's formula is evaluated on inputs clipped into it, so
    no branch overflows on the other's arguments."""
    mid = y <= 4.0
    y_mid = np.where(mid, y, 4.0)
    top, bottom = _rational(_ERFC_MID_NUM, _ERFC_MID_DEN, y_mid)
    scaled_mid = top / bottom
    y_tail = np.where(mid | (y >= _ERFC_UNDERFLOW), 5.0, y)
    inv_sq = 1.0 / (y_tail * y_tail)
    top, bottom = _rational(_ERFC_TAIL_NUM, _ERFC_TAIL_DEN, inv_sq)
    scaled_tail = (_INV_SQRT_PI - inv_sq * top / bottom) / y_tail
    # exp(-y²) as exp(-s²)·exp(-(y-s)(y+s)) with s = y rounded down to 1/16: s² is exact, so the
    # rounding of y² is not magnified by the exponential.
    y_safe = np.where(y >= _ERFC_UNDERFLOW, _ERFC_UNDERFLOW, y)
    s = np.trunc(y_safe * 16.0) / 16.0
    gauss = np.exp(-s * s) * np.exp(-(y_safe - s) * (y_safe + s))
    return np.where(y >= _ERFC_UNDERFLOW, 0.0, gauss * np.where(mid, scaled_mid, scaled_tail))


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise (Cody's approximations; |error| < 1e-15 in float64)."""
    x = np.asarray(x)
    y = np.abs(x)
    small = y <= _ERF_SMALL_LIMIT
    with np.errstate(invalid="ignore"):
        large = (0.5 - _erfc_large(np.where(small, 1.0, y))) + 0.5
        return np.where(small, _erf_small(np.where(small, x, 0.0)), np.copysign(large, x))


def _erfc(x: np.ndarray) -> np.ndarray:
    """1 − erf(x) without the cancellation for large x."""
    x = np.asarray(x)
    y = np.abs(x)
    small = y <= _ERF_SMALL_LIMIT
    with np.errstate(invalid="ignore"):
        tail = _erfc_large(np.where(small, 1.0, y))
        large = np.where(x < 0, 2.0 - tail, tail)
        return np.where(small, 1.0 - _erf_small(np.where(small, x, 0.0)), large)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1/(1+e^{−x}), computed from e^{−|x|} so no exponential overflows."""
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


class Linear(Module):
    """y = x Wᵀ + b over the last axis; W (out, in) and b (out,) start U(±1/√in) as in torch."""

    def __init__(self, in_features: int, out_features: int, *, rng: np.random.Generator, bias: bool = True,
                 dtype=np.float64):
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0
        self.weight = uniform_parameter(rng, bound, (out_features, in_features), dtype)
        self.bias = uniform_parameter(rng, bound, (out_features,), dtype) if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): input shape {x.shape} "
                             f"does not end in {self.in_features}")
        self.x = x
        y = x @ self.weight.data.T
        return y + self.bias.data if self.bias is not None else y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        # Leading axes (batch, time, ...) all act as batch: flatten them for the weight's gradient.
        flat_grad = grad.reshape(-1, self.out_features)
        self.weight.grad += flat_grad.T @ self.x.reshape(-1, self.in_features)
        if self.bias is not None:
            self.bias.grad += flat_grad.sum(axis=0)
        return grad @ self.weight.data


class Identity(Module):
    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad


class Sigmoid(Module):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.y = sigmoid(x)
        return self.y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self.y * (1.0 - self.y)


class Tanh(Module):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * (1.0 - self.y * self.y)


class ReLU(Module):
    """max(x, 0); the gradient at exactly 0 is 0, as torch's."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        self.positive = x > 0
        return np.where(self.positive, x, np.zeros((), dtype=x.dtype))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.where(self.positive, grad, np.zeros((), dtype=grad.dtype))


class GELU(Module):
    """x·Φ(x) with Φ the standard normal CDF (approximate="none", torch's default), or torch's
    approximate="tanh": 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""

    _SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
    _CUBIC = 0.044715

    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x = np.asarray(x)
        if self.approximate == "tanh":
            self.t = np.tanh(self._SQRT_2_OVER_PI * (x + self._CUBIC * x ** 3))
            return 0.5 * x * (1.0 + self.t)
        # Φ(x) = erfc(−x/√2)/2 rather than (1 + erf(x/√2))/2: no cancellation for negative x.
        self.cdf = 0.5 * _erfc(-x * math.sqrt(0.5))
        return x * self.cdf

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x = self.x
        if self.approximate == "tanh":
            inner_slope = self._SQRT_2_OVER_PI * (1.0 + 3.0 * self._CUBIC * x * x)
            return grad * (0.5 * (1.0 + self.t) + 0.5 * x * (1.0 - self.t * self.t) * inner_slope)
        density = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return grad * (self.cdf + x * density)


class BatchNorm1d(Module):
    """Batch normalisation over (N, C): training normalises with the batch's mean and biased variance
    and moves the running mean and unbiased running variance by `momentum` (torch's convention:
    running ← (1 − momentum)·running + momentum·batch); evaluation uses the running statistics."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=np.float64):
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(np.ones(num_features, dtype=dtype))
        self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)
        self.num_batches_tracked = 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d({self.num_features}): input shape {x.shape} is not "
                             f"(N, {self.num_features})")
        if self.training:
            n = x.shape[0]
            if n < 2:
                raise ValueError(f"BatchNorm1d: input shape {x.shape}: training needs more than one "
                                 "value per channel")
            mean, var = x.mean(axis=0), x.var(axis=0)
            self.running_mean *= 1.0 - self.momentum
            self.running_mean += self.momentum * mean
            self.running_var *= 1.0 - self.momentum
            self.running_var += self.momentum * var * (n / (n - 1))
            self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = (x - mean) * self.inv_std
        self.normalised_by_batch = self.training
        return self.x_hat * self.weight.data + self.bias.data

    def backward(self, grad: np.ndarray) -> np.ndarray:
        self.weight.grad += (grad * self.x_hat).sum(axis=0)
        self.bias.grad += grad.sum(axis=0)
        grad_x_hat = grad * self.weight.data
        if not self.normalised_by_batch:
            return grad_x_hat * self.inv_std
        # The batch's mean and variance depend on every row: their share of the gradient is removed.
        return self.inv_std * (grad_x_hat - grad_x_hat.mean(axis=0)
                               - self.x_hat * (grad_x_hat * self.x_hat).mean(axis=0))


class Dropout(Module):
    """Inverted dropout: in training each entry is zeroed with probability p and the kept ones scaled
    by 1/(1−p), so evaluation (the identity) sees the same expected activation. The mask comes from
    the `rng` given here, and the last one stays in `mask` (already scaled)."""

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p, self.rng = p, rng

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if not self.training or self.p == 0.0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape) >= self.p
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        self.mask = (keep * scale).astype(x.dtype)
        return x * self.mask

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad if self.mask is None else grad * self.mask


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse."""

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad
