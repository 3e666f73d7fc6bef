"""Measures of generated, completed and imputed digits, on the device as tensors.

- frechet_distance: the Fréchet distance between Gaussians fitted to two feature sets, as FID
  computes it, here in the judge CNN's penultimate features ("Fréchet LeNet distance").
- class_diversity: per class, the mean pairwise distance between features (mode collapse: 0).
- lean_degrees and ink: a digit's slant from its image moments and its stroke area, what the VAE's
  traversals are read by.
"""

from __future__ import annotations

import torch


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """|mu_a - mu_b|² + tr(S_a + S_b - 2 (S_a S_b)^½) for features a and b (rows are samples).

    tr((S_a S_b)^½) is the sum of the square roots of the eigenvalues of S_a S_b, which are real
    and non-negative for two covariance matrices (rounding's small negative or imaginary parts are
    dropped), computed in float64.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"frechet_distance: two (samples, features) sets of one width, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    if min(len(a), len(b)) < 2:
        raise ValueError("frechet_distance: at least 2 samples a set")
    a, b = a.double(), b.double()
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    root_trace = torch.linalg.eigvals(cov_a @ cov_b).real.clamp(min=0).sqrt().sum()
    distance = ((a.mean(0) - b.mean(0)) ** 2).sum() + cov_a.trace() + cov_b.trace() - 2 * root_trace
    return max(float(distance), 0.0)


def class_diversity(features: torch.Tensor, labels: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """Per class, the mean Euclidean distance between two different samples' features (NaN for a
    class with fewer than 2 samples)."""
    out = torch.full((classes,), float("nan"), dtype=torch.float64)
    for c in range(classes):
        own = features[labels == c].double()
        n = len(own)
        if n >= 2:
            out[c] = torch.cdist(own, own).sum() / (n * (n - 1))
    return out


def _moments(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ink mass and the second central moments (x: column, y: row, downwards) of each image."""
    w = images.flatten(1).double().clamp(min=0).view(images.shape[0], *images.shape[-2:])
    rows = torch.arange(w.shape[-2], dtype=w.dtype, device=w.device)
    cols = torch.arange(w.shape[-1], dtype=w.dtype, device=w.device)
    mass = w.sum((-2, -1)).clamp(min=1e-12)
    y = (w.sum(-1) * rows).sum(-1) / mass
    x = (w.sum(-2) * cols).sum(-1) / mass
    dy, dx = rows[None, :, None] - y[:, None, None], cols[None, None, :] - x[:, None, None]
    mu20 = (w * dx ** 2).sum((-2, -1)) / mass
    mu02 = (w * dy ** 2).sum((-2, -1)) / mass
    mu11 = (w * dx * dy).sum((-2, -1)) / mass
    return mass, mu20, mu02, mu11


def lean_degrees(images: torch.Tensor) -> torch.Tensor:
    """Each digit's slant: the angle of its principal axis from the vertical, in degrees in
    (-90, 90], positive when the top leans right. From the image moments: an axis with upward
    direction (sin φ, -cos φ) gives mu02 - mu20 = cos 2φ and -2 mu11 = sin 2φ (up to scale)."""
    _, mu20, mu02, mu11 = _moments(images)
    return torch.rad2deg(0.5 * torch.atan2(-2 * mu11, mu02 - mu20))


def ink(images: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Each digit's stroke area: the share of its pixels above threshold (images in [0, 1])."""
    return (images.flatten(1) > threshold).double().mean(1)
