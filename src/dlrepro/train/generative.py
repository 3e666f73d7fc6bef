"""Measures of generated, completed and imputed digits, on the device as tensors.

- Judge: the mnist-judge CNN (its first seed) read back from its folder, the upstream stage of
  every generative family: its predictions and its penultimate features.
- GeneratedMeasures / measure: the judge's accuracy against the label a digit should have, the
  Fréchet distance to real test digits in the judge's features, and per-class diversity;
  real_reference: the real test digits' features split in two halves, whose distance is the floor.
- frechet_distance: the Fréchet distance between Gaussians fitted to two feature sets, as FID
  computes it, here in the judge CNN's penultimate features ("Fréchet LeNet distance").
- class_diversity: per class, the mean pairwise distance between features (mode collapse: 0).
- lean_degrees and ink: a digit's slant from its image moments and its stroke area, what the VAE's
  traversals are read by.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dlrepro.io import read_json
from dlrepro.models import cnn

N_CLASSES = 10


class Judge:
    """The judge of generated digits: the first seed of a trained mnist-judge variant (upstream).

    Images are N x 1 x 28 x 28 in [0, 1], as the MNIST splits (train.splits) hold them.
    """

    def __init__(self, folder: str | Path | None, label: str, device: torch.device):
        if folder is None:
            raise ValueError(f"{label}: needs --upstream (a trained mnist-judge variant's folder)")
        folder = Path(folder)
        provenance = read_json(folder / "provenance.json")
        first = provenance["per_seed"][0]
        self.params = provenance["params"]  # how it was trained: data (its splits), model, train
        self.seed, self.test_accuracy = first["seed"], first["test_accuracy"]
        self.model = cnn.build(self.params["model"], 1, 28, N_CLASSES).to(device).eval()
        checkpoint = folder / "runs" / f"seed{self.seed}" / "model.pt"
        self.model.load_state_dict(torch.load(checkpoint, map_location=device, weights_only=True))

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
        """The penultimate layer (the trunk's output) of each image."""
        return torch.cat([self.model.trunk(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.head(self.features(images)).argmax(1)

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """The share of images the judge reads as the label they should have."""
        return (self.predict(images) == labels).double().mean().item()


@dataclass
class RealReference:
    """Real test digits in the judge's features, split at random into two halves of equal size:
    generated digits are compared with `reference`; `floor` is the other half's distance to it,
    what a perfect generator would score with as many samples. `diversity`: the reference's own
    per-class diversity, what a generator's should come close to."""

    reference: torch.Tensor
    floor: float
    diversity: float
    n: int


def real_reference(judge: Judge, test_images: torch.Tensor, test_labels: torch.Tensor, seed: int = 0) -> RealReference:
    feats = judge.features(test_images)
    order = torch.randperm(len(feats), generator=torch.Generator().manual_seed(seed)).to(feats.device)
    half = len(feats) // 2
    reference, other = order[:half], order[half:2 * half]
    return RealReference(feats[reference], frechet_distance(feats[other], feats[reference]),
                         class_diversity(feats[reference], test_labels[reference]).nanmean().item(), half)


def judge_provenance(judge: Judge, real: RealReference | None = None) -> dict:
    """What a generative stage's provenance says about its reader: the judge's seed and test
    accuracy and, where samples are compared with real digits, the floor they are compared with."""
    out = {"judge": {"seed": judge.seed, "test_accuracy": judge.test_accuracy}}
    if real is not None:
        out["real"] = {"frechet_floor": real.floor, "real_diversity": real.diversity, "half_size": real.n}
    return out


def measure(judge: Judge, images: torch.Tensor, labels: torch.Tensor, real: RealReference) -> dict:
    """Generated (or completed) digits against the labels they should have and the real reference.

    The Fréchet distance uses as many generated digits as the reference half has (the first
    real.n), so that it is comparable with real.floor; pass at least that many.
    """
    if len(images) < real.n:
        raise ValueError(f"measure: {len(images)} images, the Fréchet distance needs {real.n} (half the test set)")
    feats = judge.features(images)
    with torch.no_grad():
        predicted = judge.model.head(feats).argmax(1)
    diversity = class_diversity(feats, labels)
    return {"judge_accuracy": (predicted == labels).double().mean().item(),
            "frechet": frechet_distance(feats[:real.n], real.reference),
            "frechet_floor": real.floor,
            "diversity": diversity.nanmean().item(),
            "real_diversity": real.diversity}


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


@dataclass
class Traversal:
    """Each latent dimension traversed over `values` from base codes, decoded and measured.

    lean and ink: [dims, steps], the means over the base codes of each decoded digit's lean
    (degrees) and ink; grid: [dims, steps, 1, H, W], the first base code's decoded digits.
    """

    values: torch.Tensor
    lean: torch.Tensor
    ink: torch.Tensor
    grid: torch.Tensor

    @property
    def angle_change(self) -> torch.Tensor:
        """Per dimension, how far the mean lean moves over the traversal (max − min, degrees)."""
        return self.lean.amax(1) - self.lean.amin(1)

    @property
    def ink_change(self) -> torch.Tensor:
        return self.ink.amax(1) - self.ink.amin(1)

    def rotation_dimension(self) -> tuple[int, float, float]:
        """The dimension whose traversal changes the angle most, its change in degrees, and the
        runner-up dimension's change (0 with one dimension)."""
        changes = self.angle_change.sort(descending=True)
        second = changes.values[1].item() if len(changes.values) > 1 else 0.0
        return int(changes.indices[0]), changes.values[0].item(), second


@torch.no_grad()
def traverse(decode, codes: torch.Tensor, span: float = 3.0, steps: int = 9) -> Traversal:
    """Set one latent dimension at a time of every base code (n x dims) to each of `steps` values
    from -span to +span (the prior's standard deviations), keep the others, and decode (decode:
    codes -> images in [0, 1]) all dims x steps x n codes at once."""
    n, dims = codes.shape
    values = torch.linspace(-span, span, steps, device=codes.device)
    z = codes.expand(dims, steps, n, dims).clone()
    diagonal = torch.arange(dims, device=codes.device)
    z[diagonal, :, :, diagonal] = values[None, :, None]
    images = decode(z.reshape(-1, dims))
    lean = lean_degrees(images).view(dims, steps, n).mean(2)
    thickness = ink(images).view(dims, steps, n).mean(2)
    return Traversal(values.cpu(), lean.cpu(), thickness.cpu(), images.view(dims, steps, n, *images.shape[1:])[:, :, 0].cpu())


def first_of_each_class(labels: torch.Tensor, per_class: int = 1, classes: int = N_CLASSES) -> torch.Tensor:
    """The indices of the first `per_class` images of each class, class by class: the columns of
    the sample grids."""
    return torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in range(classes)])
