"""Vectorised drawing of soft-edged shapes, for the procedurally generated embedded datasets.

Every function works on a batch at once: coordinates are arrays of shape (N, H, W) in an
object's own frame (u to the right, v downwards, one unit = the object's half size), and
shape parameters broadcast as arrays of shape (N, 1, 1) or scalars. A shape is a signed
distance d (negative inside); `mask(d, soft)` turns it into coverage in [0, 1] with an
anti-aliased edge. Only numpy is used, with one seeded Generator, so a dataset is the same
bytes on every machine.
"""

from __future__ import annotations

import numpy as np


def col(values) -> np.ndarray:
    """Per-image parameters (N,) as (N, 1, 1), to broadcast over pixels."""
    return np.asarray(values, dtype=np.float64)[:, None, None]


def frame(n: int, size: int, cx, cy, scale, angle) -> tuple[np.ndarray, np.ndarray, float]:
    """Object coordinates (u, v) of every pixel, and the width of one pixel in them.

    Pixel centres span [-1, 1]; (cx, cy) is the object's centre in those units, scale its half
    size and angle its rotation in radians, all arrays of shape (N,).
    """
    axis = (np.arange(size) + 0.5) / size * 2 - 1
    y, x = np.meshgrid(axis, axis, indexing="ij")
    dx, dy = x[None] - col(cx), y[None] - col(cy)
    cos, sin = np.cos(col(angle)), np.sin(col(angle))
    s = col(scale)
    u = (dx * cos + dy * sin) / s
    v = (-dx * sin + dy * cos) / s
    return u, v, (2.0 / size) / s


def mask(d: np.ndarray, soft) -> np.ndarray:
    """Coverage of a shape with signed distance d; the edge is about one pixel (soft) wide."""
    return np.clip(0.5 - d / soft, 0.0, 1.0)


def box(u, v, cu, cv, hu, hv):
    return np.maximum(np.abs(u - cu) - hu, np.abs(v - cv) - hv)


def ellipse(u, v, cu, cv, ru, rv):
    return (np.sqrt(((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2) - 1.0) * np.minimum(ru, rv)


def trapezoid(u, v, cu, cv, top, bottom, hv):
    """Symmetric about u = cu, half width `top` at v = cv - hv and `bottom` at v = cv + hv."""
    t = np.clip((v - cv + hv) / (2 * hv), 0, 1)
    half = top + (bottom - top) * t
    return np.maximum(np.abs(u - cu) - half, np.abs(v - cv) - hv)


def segment(u, v, u0, v0, u1, v1, width):
    """A stroke of half width `width` from (u0, v0) to (u1, v1)."""
    du, dv = u1 - u0, v1 - v0
    t = np.clip(((u - u0) * du + (v - v0) * dv) / (du * du + dv * dv + 1e-12), 0, 1)
    return np.sqrt((u - u0 - t * du) ** 2 + (v - v0 - t * dv) ** 2) - width


def union(*ds):
    return np.minimum.reduce(np.broadcast_arrays(*ds))


def cut(d, hole):
    """d with the shape `hole` removed."""
    return np.maximum(d, -hole)


def paint(canvas: np.ndarray, coverage: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Paint a colour (N, C) over canvas (N, C, H, W) where coverage (N, H, W) says."""
    a = coverage[:, None]
    return canvas * (1 - a) + colour[:, :, None, None] * a


def smooth_noise(rng: np.random.Generator, n: int, channels: int, size: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: a coarse random grid, bilinearly upsampled to size."""
    coarse = rng.uniform(-1, 1, size=(n, channels, cells + 1, cells + 1))
    pos = (np.arange(size) + 0.5) / size * cells
    i0 = np.floor(pos).astype(int)
    f = pos - i0
    rows = coarse[:, :, i0] * (1 - f)[:, None] + coarse[:, :, i0 + 1] * f[:, None]
    return rows[:, :, :, i0] * (1 - f) + rows[:, :, :, i0 + 1] * f


def to_uint8(images: np.ndarray) -> np.ndarray:
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)
