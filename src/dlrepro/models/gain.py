"""GAIN: Generative Adversarial Imputation Nets (Yoon, Jordon and van der Schaar, ICML 2018).

Vectors are rows of d entries (an image flattened) in [0, 1]; the mask m is 1 where an entry is
observed and 0 where it is missing.

- The generator G reads X̃ = m⊙x + (1−m)⊙z (z uniform noise in the missing entries) beside m and
  proposes every entry; the imputation keeps the observed entries: x̂ = m⊙x + (1−m)⊙G(X̃, m).
- The discriminator D reads (x̂, h) and gives, per entry, the probability that it was observed.
- The hint h tells D part of m. The paper's hint (Theorem 2's, `hint="paper"`): b has exactly one
  0 per row, at a random entry k, and h = b⊙m + 0.5(1−b), so h equals m everywhere except at k,
  where it is 0.5; the losses (the paper's Algorithm 1) count only the entry k of each row, the one
  D has to judge from x̂: D minimises the cross-entropy of its output there against m_k; G
  minimises −(1−m_k)·log D_k (fool D on a missing entry) plus α times the mean squared error on
  the observed entries. The authors' public code (`hint="code"`): b ~ Bernoulli(hint_rate) per
  entry, h = b⊙m, and both losses over every entry (D: the mean cross-entropy against m; G: the
  mean of −(1−m)·log D).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

HINTS = ("paper", "code")


class GainMLP(nn.Module):
    """2d → hidden → ... → d, ReLU between layers, logits out (G applies a sigmoid, D reads them as
    the log-odds of "observed"). Weights start as the authors' code's `xavier_init`, which draws
    N(0, 2/fan_in) (He's normal), and biases at 0."""

    def __init__(self, d: int, hidden: list[int]):
        super().__init__()
        widths = [2 * d, *hidden, d]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        for layer in self.layers:
            nn.init.normal_(layer.weight, std=(2.0 / layer.in_features) ** 0.5)
            nn.init.zeros_(layer.bias)

    def forward(self, values: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        h = torch.cat([values, side], 1)
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))
        return self.layers[-1](h)


class Gain(nn.Module):
    """The generator and the discriminator of one GAIN model on d-entry vectors."""

    def __init__(self, d: int, hidden: list[int]):
        super().__init__()
        self.generator = GainMLP(d, hidden)
        self.discriminator = GainMLP(d, hidden)

    def propose(self, x: torch.Tensor, m: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """G's proposal for every entry, in [0, 1], from X̃ = m⊙x + (1−m)⊙z and m."""
        return torch.sigmoid(self.generator(m * x + (1 - m) * z, m))

    def impute(self, x: torch.Tensor, m: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x̂ = m⊙x + (1−m)⊙G(X̃, m): observed entries kept exactly, missing ones proposed."""
        return combine(x, m, self.propose(x, m, z))


def combine(x: torch.Tensor, m: torch.Tensor, proposal: torch.Tensor) -> torch.Tensor:
    """The observed entries of x, the proposal's elsewhere (exactly: a select, not m⊙x + (1−m)⊙p,
    so that an observed entry comes back bit for bit)."""
    return torch.where(m.bool(), x, proposal)


def noise(shape: tuple[int, ...], scale: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """z ~ U(0, scale) per entry (the authors' code: U(0, 0.01))."""
    return torch.rand(shape, generator=generator, device=device) * scale


def paper_hint(m: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(b, h): b is 1 everywhere but one uniformly chosen entry k per row, h = b⊙m + 0.5(1−b)."""
    n, d = m.shape
    k = torch.randint(d, (n,), generator=generator, device=m.device)
    b = torch.ones_like(m)
    b[torch.arange(n, device=m.device), k] = 0
    return b, b * m + 0.5 * (1 - b)


def code_hint(m: torch.Tensor, hint_rate: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(b, h) as the authors' code: b ~ Bernoulli(hint_rate) per entry, h = b⊙m."""
    b = (torch.rand(m.shape, generator=generator, device=m.device) < hint_rate).to(m.dtype)
    return b, b * m


def hint(kind: str, m: torch.Tensor, hint_rate: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if kind == "paper":
        return paper_hint(m, generator)
    if kind == "code":
        return code_hint(m, hint_rate, generator)
    raise ValueError(f"unknown hint {kind!r} ({', '.join(HINTS)})")


def discriminator_loss(logits: torch.Tensor, m: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
    """D's cross-entropy against m: at each row's hidden entry (b = 0) for the paper's hint, the
    mean over every entry for the code's."""
    ce = F.binary_cross_entropy_with_logits(logits, m, reduction="none")
    if kind == "paper":
        return (ce * (1 - b)).sum() / len(m)  # one entry per row: the mean over rows
    return ce.mean()


def adversarial_loss(logits: torch.Tensor, m: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
    """G's adversarial loss −(1−m)·log D on missing entries: at each row's hidden entry for the
    paper's hint (the mean over rows), the mean over every entry for the code's."""
    fooled = F.softplus(-logits) * (1 - m)  # −log sigmoid(logit) where the entry is missing
    if kind == "paper":
        return (fooled * (1 - b)).sum() / len(m)
    return fooled.mean()


def observed_mse(x: torch.Tensor, proposal: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """The mean squared error of G's proposal on the observed entries (the reconstruction term)."""
    return ((proposal - x) ** 2 * m).sum() / m.sum().clamp(min=1)
