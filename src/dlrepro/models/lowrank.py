"""Low-rank versions of a linear layer: a factorised pair of thin layers, and SVD in the loop.

A rank-D approximation of a weight W (out x in) is W_D = U_D S_D V_D^T, the D leading singular
triplets (the best rank-D approximation in Frobenius norm, Eckart-Young). Stored as U_D S_D
(out x D) and V_D^T (D x in) it costs D (in + out) numbers instead of in * out.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

SVD_METHODS = ("exact", "randomized")


def full_rank(weight: torch.Tensor) -> int:
    return min(weight.shape)


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one CPU thread: decompositions then give the same bits on any core count, and
    a multithreaded LAPACK call on a busy machine is often many times slower than a single one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _right_singular(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared singular values (descending) and right singular vectors, in float64, from the
    eigendecomposition of W^T W: faster on a CPU than an SVD, and in float64 exact enough
    (errors ~1e-16 s_1^2) for every rank used here."""
    w = weight.detach().double().cpu()
    with single_thread():
        eigenvalues, vectors = torch.linalg.eigh(w.T @ w)
    return eigenvalues.flip(0).clamp_(min=0).to(weight.device), vectors.flip(1).to(weight.device)


def singular_values(weight: torch.Tensor) -> torch.Tensor:
    return _right_singular(weight)[0][:full_rank(weight)].sqrt()


def truncated_svd(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(U_D S_D, V_D^T) of a weight: the two factors of its best rank-D approximation.

    U_D S_D = W V_D, so the product W V_D V_D^T projects W onto its leading right singular
    subspace; at full rank V is orthogonal and the product is W itself.
    """
    if not 1 <= rank <= full_rank(weight):
        raise ValueError(f"rank {rank} outside 1..{full_rank(weight)} for a {tuple(weight.shape)} weight")
    _, v = _right_singular(weight)
    v = v[:, :rank]
    dtype = weight.dtype if weight.dtype.is_floating_point else torch.float32
    return (weight.detach().double() @ v).to(dtype).contiguous(), v.T.to(dtype).contiguous()


def factorising_pays(in_features: int, out_features: int, rank: int) -> bool:
    """Whether two factors hold fewer numbers than the dense matrix."""
    return rank * (in_features + out_features) < in_features * out_features


class FactorisedLinear(nn.Module):
    """in -> rank (no bias) -> out (with bias): the layer y = (U S)(V^T x) + b as two thin layers."""

    def __init__(self, us: torch.Tensor, vh: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        rank, in_features = vh.shape
        out_features = us.shape[0]
        self.first = nn.Linear(in_features, rank, bias=False)
        self.second = nn.Linear(rank, out_features, bias=bias is not None)
        with torch.no_grad():
            self.first.weight.copy_(vh)
            self.second.weight.copy_(us)
            if bias is not None:
                self.second.bias.copy_(bias)

    @property
    def in_features(self) -> int:
        return self.first.in_features

    @property
    def out_features(self) -> int:
        return self.second.out_features

    @property
    def rank(self) -> int:
        return self.first.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))


def factorise(layer: nn.Linear, rank: int) -> nn.Module:
    """A rank-D copy of a linear layer: two thin layers, or one dense layer holding the rank-D
    product where factors would be larger than the matrix (the full rank, for one)."""
    us, vh = truncated_svd(layer.weight, rank)
    bias = None if layer.bias is None else layer.bias.detach().clone()
    if factorising_pays(layer.in_features, layer.out_features, rank):
        return FactorisedLinear(us, vh, bias).to(layer.weight.device)
    dense = nn.Linear(layer.in_features, layer.out_features, bias=bias is not None).to(layer.weight.device)
    with torch.no_grad():
        dense.weight.copy_(us @ vh)
        if bias is not None:
            dense.bias.copy_(bias)
    return dense


class SVDLinear(nn.Module):
    """A full weight whose forward pass uses its rank-D reconstruction (SVD in the loop).

    Gradients flow through the decomposition to the full weight. `exact` runs a full SVD every
    call; `randomized` runs torch.svd_lowrank (a randomized range finder with `oversample` extra
    columns and `power_iterations` subspace iterations), which costs O(in * out * D) instead of
    O(in * out * min(in, out)).
    """

    def __init__(self, layer: nn.Linear, rank: int, method: str = "exact", oversample: int = 10,
                 power_iterations: int = 2):
        super().__init__()
        if method not in SVD_METHODS:
            raise ValueError(f"unknown SVD method {method!r} ({', '.join(SVD_METHODS)})")
        if not 1 <= rank <= full_rank(layer.weight):
            raise ValueError(f"rank {rank} outside 1..{full_rank(layer.weight)}")
        self.weight = nn.Parameter(layer.weight.detach().clone())
        self.bias = None if layer.bias is None else nn.Parameter(layer.bias.detach().clone())
        self.rank, self.method = rank, method
        self.oversample, self.power_iterations = oversample, power_iterations

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def low_rank_weight(self) -> torch.Tensor:
        # The decomposition runs in float32 even under autocast.
        with torch.autocast(self.weight.device.type, enabled=False):
            w, d = self.weight.float(), self.rank
            if self.method == "exact":
                u, s, vh = torch.linalg.svd(w, full_matrices=False)
                return (u[:, :d] * s[:d]) @ vh[:d]
            q = min(d + self.oversample, full_rank(w))
            u, s, v = torch.svd_lowrank(w, q=q, niter=self.power_iterations)
            return (u[:, :d] * s[:d]) @ v[:, :d].T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.low_rank_weight(), self.bias)
