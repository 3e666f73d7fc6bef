"""Fashion-MNIST from upstream (or the mirror), from a local copy, or embedded (generated).

Upstream publishes md5 checksums of its gzip files only (README of zalandoresearch/fashion-mnist).
The sha256 pinned here are of the decompressed IDX payloads of those files, as for MNIST: a gzip
wrapper may differ between copies (Debian's package drops the file-name field, so its gzip bytes
and md5 differ from upstream's) while the payload is the same, and the payload is what is used.

The embedded stand-in draws clothing silhouettes procedurally: the ten Fashion-MNIST classes,
28x28 grey on black, centred like the real images, with random size, aspect, tilt, shade,
texture and details (sleeve length, collars, buttons, zips, straps), so the confusable classes
(T-shirt, pullover, coat, shirt) stay confusable. Train and test images come from separate
random streams of continuous parameters, so no test image is a copy of a training one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlrepro.data import mnist
from dlrepro.data import procedural as P

URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")
# array name -> (upstream file, sha256 of the decompressed payload, shape); official md5 of the gzip
# files in comments
FILES = {
    "train_x": ("train-images-idx3-ubyte.gz",  # md5 8d4fb7e6c68d591d4c3dfef9ec88bf0d
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", (60000, 28, 28)),
    "train_y": ("train-labels-idx1-ubyte.gz",  # md5 25c81989df183df01b3e8a0aad5dffbe
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", (60000,)),
    "test_x": ("t10k-images-idx3-ubyte.gz",  # md5 bef4ecab320f06d8554ea6380940ec79
               "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", (10000, 28, 28)),
    "test_y": ("t10k-labels-idx1-ubyte.gz",  # md5 bb300cfdad3c16e7a12a480ee83cd310
               "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", (10000,)),
}
SHA256_OF = "payload"
CLASSES = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "ankle boot")
SIZE = 28


def _sleeves(u, v, length, width=0.17):
    """Two sleeves from the shoulders, hanging outwards and down; length 0.4 (short) to 1.5 (long)."""
    return P.union(*(P.segment(u, v, side * 0.42, -0.62, side * (0.5 + 0.35 * np.minimum(length, 1.0)),
                               -0.62 + length, width) for side in (-1, 1)))


def _torso(u, v, p, bottom):
    body = P.box(u, v, 0, (bottom - 0.75) / 2, 0.46 + 0.04 * p["w"], (bottom + 0.75) / 2)
    return P.cut(body, P.ellipse(u, v, 0, -0.76, 0.16, 0.1))


# Each drawer: (u, v, p) -> (signed distance of the garment, signed distance of its dark details)
def _tshirt(u, v, p):
    return P.union(_torso(u, v, p, 0.8 + 0.1 * p["b"]), _sleeves(u, v, 0.45 + 0.2 * p["a"], 0.2)), np.full_like(u, 9.0)


def _trouser(u, v, p):
    spread = 0.2 + 0.08 * p["a"]
    legs = P.union(*(P.segment(u, v, s * 0.2, -0.75, s * (0.2 + spread * 0.5), 0.92, 0.17) for s in (-1, 1)))
    return P.union(legs, P.box(u, v, 0, -0.82, 0.38, 0.1)), np.full_like(u, 9.0)


def _pullover(u, v, p):
    body = P.union(_torso(u, v, p, 0.82 + 0.12 * p["b"]), _sleeves(u, v, 1.2 + 0.25 * p["a"]))
    hem = P.box(u, v, 0, 0.78, 0.5, 0.04)
    return body, hem


def _dress(u, v, p):
    top = P.trapezoid(u, v, 0, -0.45, 0.28, 0.18, 0.38)
    skirt = P.trapezoid(u, v, 0, 0.38, 0.18, 0.55 + 0.15 * p["a"], 0.52)
    return P.union(top, skirt), np.full_like(u, 9.0)


def _coat(u, v, p):
    body = P.union(_torso(u, v, p, 0.9 + 0.08 * p["b"]), _sleeves(u, v, 1.3 + 0.2 * p["a"], 0.19))
    zip_ = P.segment(u, v, 0, -0.68, 0, 0.95, 0.035)
    lapels = P.union(*(P.segment(u, v, 0, -0.45, s * 0.22, -0.78, 0.04) for s in (-1, 1)))
    return body, P.union(zip_, lapels)


def _shirt(u, v, p):
    body = P.union(_torso(u, v, p, 0.85 + 0.1 * p["b"]), _sleeves(u, v, 1.15 + 0.25 * p["a"], 0.16))
    collar = P.union(*(P.segment(u, v, 0, -0.6, s * 0.2, -0.8, 0.05) for s in (-1, 1)))
    buttons = P.union(*(P.ellipse(u, v, 0, y, 0.05, 0.05) for y in (-0.35, 0.0, 0.35, 0.7)))
    return body, P.union(collar, buttons)


def _sandal(u, v, p):
    sole = P.box(u, v, 0, 0.6, 0.92, 0.07)
    straps = P.union(*(P.segment(u, v, x, 0.55, x + 0.25, 0.1 - 0.1 * p["a"], 0.06) for x in (-0.7, -0.25, 0.2)),
                     P.segment(u, v, 0.55, 0.55, 0.75, 0.0, 0.06), P.segment(u, v, -0.1, 0.1, 0.75, 0.0, 0.05))
    return P.union(sole, straps), np.full_like(u, 9.0)


def _sneaker(u, v, p):
    upper = P.cut(P.ellipse(u, v, 0.1, 0.45, 0.85, 0.4 + 0.05 * p["a"]), -P.box(u, v, 0, 0.1, 2, 0.46))
    body = P.union(P.box(u, v, 0, 0.58, 0.95, 0.08), upper, P.box(u, v, 0.55, 0.2, 0.38, 0.3))
    laces = P.union(*(P.segment(u, v, x, 0.2, x + 0.12, 0.32, 0.03) for x in (-0.2, 0.05, 0.3)))
    return body, laces


def _bag(u, v, p):
    body = P.box(u, v, 0, 0.28, 0.78 + 0.1 * p["a"], 0.6)
    ring = P.cut(P.ellipse(u, v, 0, -0.32, 0.42, 0.42), P.ellipse(u, v, 0, -0.32, 0.3, 0.3))
    handle = np.maximum(ring, v + 0.3)
    return P.union(body, handle), P.box(u, v, 0, 0.0, 0.78, 0.025) + 0.05 * (p["b"] > 0.3)


def _boot(u, v, p):
    shaft = P.box(u, v, 0.35, -0.2, 0.42, 0.72)
    foot = P.union(P.box(u, v, 0.05, 0.52, 0.85, 0.22), P.ellipse(u, v, -0.55, 0.52, 0.38, 0.24))
    return P.union(shaft, foot, P.box(u, v, 0.05, 0.8, 0.92, 0.08)), P.box(u, v, 0.05, 0.8, 0.92, 0.02)


DRAWERS = (_tshirt, _trouser, _pullover, _dress, _coat, _sandal, _shirt, _sneaker, _bag, _boot)


def generate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n images (uint8, n x 28 x 28) with balanced labels, from one seeded random stream."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.uint8)
    scale = rng.uniform(0.78, 0.95, n)
    aspect = rng.uniform(0.85, 1.15, n)
    u, v, px = P.frame(n, SIZE, rng.uniform(-0.1, 0.1, n), rng.uniform(-0.08, 0.08, n), scale,
                       rng.uniform(-0.12, 0.12, n))
    # A smooth random warp makes every garment's outline a little irregular.
    warp = P.smooth_noise(rng, n, 2, SIZE, 3) * P.col(rng.uniform(0.03, 0.12, n))[:, None]
    u, v = u / P.col(aspect) + warp[:, 0], v + warp[:, 1]
    p = {"a": P.col(rng.uniform(-1, 1, n)), "b": P.col(rng.uniform(-1, 1, n)), "w": P.col(rng.uniform(-1, 1, n))}
    shade = P.col(rng.uniform(0.35, 1.0, n))
    texture = P.smooth_noise(rng, n, 1, SIZE, 4)[:, 0] * P.col(rng.uniform(0.05, 0.3, n))
    stripes = np.sin(v * P.col(rng.uniform(8, 20, n))) * P.col(rng.uniform(0, 1, n) < 0.25) * 0.25
    seam = P.col(rng.uniform(0.15, 0.65, n))  # how dark seams, zips and buttons are
    noise = rng.normal(0, 0.05, (n, SIZE, SIZE))
    images = np.zeros((n, SIZE, SIZE))
    for c, draw in enumerate(DRAWERS):
        idx = np.flatnonzero(labels == c)
        sub = {k: a[idx] for k, a in p.items()}
        garment, detail = draw(u[idx], v[idx], sub)
        cover = P.mask(garment, px[idx])
        dark = P.mask(detail, px[idx]) * cover
        images[idx] = cover * shade[idx] * (1 + texture[idx] + stripes[idx]) * (1 - seam[idx] * dark)
    return P.to_uint8(images + noise * (images > 0.02)), labels


def from_embedded(n_train: int, n_test: int, seed: int) -> tuple[dict, dict]:
    train_x, train_y = generate(n_train, seed * 2)
    test_x, test_y = generate(n_test, seed * 2 + 1)
    files = {"origin": "generated: dlrepro.data.fashion_mnist.generate", "seed": seed}
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}, files


def prepare(values: dict, out: str | Path) -> dict:
    """Build the dataset chosen by the resolved `fashion_mnist` params and write it as arrays to out."""
    return mnist.prepare_from(values, out, "fashion_mnist", {
        "embedded": from_embedded,
        "download": lambda: mnist.from_download(FILES, "fashion-mnist", URLS, SHA256_OF),
        "local": lambda folder: mnist.from_local(folder, FILES, "fashion_mnist", SHA256_OF),
    }, classes=list(CLASSES))
