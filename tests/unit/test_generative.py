"""Measures of generated digits: Fréchet distance, per-class diversity, slant and ink."""

from __future__ import annotations

import math

import pytest
import torch

from dlrepro.train.generative import class_diversity, frechet_distance, ink, lean_degrees, traverse


def features(n: int = 2000, d: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g)
    return torch.randn(n, d, generator=g) @ mix + torch.arange(d, dtype=torch.float32)


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_noise():
    a = features()
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6 * a.var(0).sum().item())
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(a.shape, generator=g)
    distances = [frechet_distance(a, a + s * noise) for s in (0.5, 1.0, 2.0, 4.0)]
    assert all(x < y for x, y in zip(distances, distances[1:])), distances
    assert distances[0] > 0


def test_frechet_distance_matches_the_closed_form_for_gaussians():
    """Two large samples of N(0, I) and N(m, 4I) in d dimensions: |m|² + d (1 + 4 - 2·2) = |m|² + d."""
    d, g = 8, torch.Generator().manual_seed(2)
    a = torch.randn(200_000, d, generator=g, dtype=torch.float64)
    b = 2 * torch.randn(200_000, d, generator=g, dtype=torch.float64) + 1.5
    assert frechet_distance(a, b) == pytest.approx(d * 1.5 ** 2 + d, rel=0.02)


def test_frechet_distance_names_bad_shapes():
    with pytest.raises(ValueError, match="one width"):
        frechet_distance(torch.zeros(5, 3), torch.zeros(5, 4))


def test_class_diversity_is_zero_for_a_collapsed_class():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(40, 6, generator=g)
    labels = torch.arange(40) % 4
    feats[labels == 2] = 1.0  # every sample of class 2 the same
    out = class_diversity(feats, labels, classes=5)
    assert out[2] == 0 and (out[[0, 1, 3]] > 1).all() and math.isnan(out[4])


def bar(angle: float, size: int = 28, length: float = 18, width: float = 2.5) -> torch.Tensor:
    """A bar through the centre, its top leaning right by angle degrees."""
    rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                                indexing="ij")
    phi = math.radians(angle)
    up = (math.sin(phi), -math.cos(phi))  # (x, y) with y downwards
    x, y = cols - (size - 1) / 2, rows - (size - 1) / 2
    along = x * up[0] + y * up[1]
    across = x * -up[1] + y * up[0]
    return ((along.abs() <= length / 2) & (across.abs() <= width / 2)).double()


def test_lean_recovers_the_angle_of_rotated_bars():
    angles = torch.tensor([-60.0, -30.0, -10.0, 0.0, 15.0, 45.0])
    images = torch.stack([bar(float(a)) for a in angles])
    assert torch.allclose(lean_degrees(images), angles.double(), atol=2.0), lean_degrees(images)


def test_ink_grows_with_stroke_width():
    thin, thick = bar(0, width=2), bar(0, width=5)
    assert ink(thick[None]) > 2 * ink(thin[None])


def bars(angle_degrees: torch.Tensor, width: torch.Tensor, size: int = 28, length: float = 9.0) -> torch.Tensor:
    """Soft bars through the image centre, one per angle (from the vertical, top to the right) and width."""
    phi = torch.deg2rad(angle_degrees)[:, None, None]
    rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                                indexing="ij")
    dx, dy = cols - (size - 1) / 2, rows - (size - 1) / 2
    along = dx * torch.sin(phi) - dy * torch.cos(phi)           # along the bar's upward direction
    across = dx * torch.cos(phi) + dy * torch.sin(phi)
    inside = torch.sigmoid(4 * (width[:, None, None] - across.abs())) * torch.sigmoid(4 * (length - along.abs()))
    return inside[:, None]


def test_the_rotation_finder_recovers_a_known_rotation_and_thickness():
    """A decoder whose dimension 2 turns the digit by 20° per unit and dimension 0 thickens it; 1 and 3 do nothing."""
    def decode(z: torch.Tensor) -> torch.Tensor:
        return bars(20.0 * z[:, 2], 1.5 + 0.3 * z[:, 0])

    codes = 0.1 * torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    found = traverse(decode, codes, span=2.0, steps=9)
    dim, change, runner_up = found.rotation_dimension()
    assert dim == 2
    assert change == pytest.approx(80.0, abs=4.0)           # from -40° to +40°
    assert runner_up < 5
    assert int(found.ink_change.argmax()) == 0
    assert found.grid.shape == (4, 9, 1, 28, 28)
    assert torch.allclose(found.lean[2].float(), 20.0 * found.values, atol=3.0)
