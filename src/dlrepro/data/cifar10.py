"""CIFAR-10 from upstream (or the mirror), from a local copy, or embedded (generated scenes).

Upstream is one archive, cifar-10-python.tar.gz, of pickled batches. Its sha256 is pinned (as
Keras pins it; upstream itself publishes only the archive's md5, c58f30108f718f92721af3b95e74349a),
and each member is checked against the md5 of its decompressed bytes that torchvision pins:
no sha256 of the decompressed batches is published. The pickles are read with a restricted
unpickler that builds nothing but plain containers, strings, bytes, numbers and numeric numpy
arrays, so a tampered file can fail but cannot run code.

Arrays are stored as uint8 N x 3 x 32 x 32 (channels first, R, G, B: the upstream row layout).
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from dlrepro.data import mnist
from dlrepro.data import procedural as P
from dlrepro.data.sources import DataError, RemoteFile, fetch, sha256_hex

URLS = ("https://www.cs.toronto.edu/~kriz/",)
ARCHIVE = RemoteFile("cifar-10", "cifar-10-python.tar.gz", URLS,
                     "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", sha256_of="file")
FOLDER = "cifar-10-batches-py"
# member -> md5 of its decompressed bytes (the only published checksums of the payload)
MEMBERS_MD5 = {
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SIZE = 32


# ---------------------------------------------------------------------------------------------
# Restricted unpickling


def _encode(text: str, encoding: str) -> bytes:
    # Python 3 pickles of bytes objects (protocol 2) call _codecs.encode(text, "latin1").
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _dtype(spec, *args) -> np.dtype:
    dtype = np.dtype(spec)
    if dtype.hasobject or dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"refused numpy dtype {dtype} (only numeric arrays are allowed)")
    return np.dtype(spec, *args)


def _reconstruct(subtype, shape, dtype) -> np.ndarray:
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"refused array subtype {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, _dtype(dtype))


_ALLOWED = {
    ("_codecs", "encode"): _encode,
    ("numpy", "dtype"): _dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, tuples, str, bytes, numbers and numeric numpy arrays; nothing else.

    Any other global (a function, a class) in the stream is refused before it is looked up, so
    a pickle crafted to call os.system or similar fails instead of running.
    """

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: only plain data is allowed") from None


def safe_unpickle(payload: bytes, origin: str):
    try:
        return RestrictedUnpickler(io.BytesIO(payload), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError) as exc:
        raise DataError(f"{origin}: not a plain-data pickle of a CIFAR-10 batch ({exc})") from None


def _get(d: dict, key: str, origin: str):
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise DataError(f"{origin}: no key {key!r} (found {sorted(map(str, d))})")


def parse_batch(payload: bytes, origin: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N x 3 x 32 x 32 uint8) and labels of one pickled batch, checked for structure."""
    batch = safe_unpickle(payload, origin)
    if not isinstance(batch, dict):
        raise DataError(f"{origin}: expected a dict, found {type(batch).__name__}")
    data, labels = _get(batch, "data", origin), _get(batch, "labels", origin)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * SIZE * SIZE:
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{origin}: 'data' must be uint8 N x 3072, found {found}")
    labels = np.asarray(labels)
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu" or (labels.size and not 0 <= labels.min() <= labels.max() < 10):
        raise DataError(f"{origin}: 'labels' must be {len(data)} integers in 0..9, found {labels.dtype} {labels.shape}")
    return data.reshape(-1, 3, SIZE, SIZE).copy(), labels.astype(np.uint8)


def parse_meta(payload: bytes, origin: str) -> list[str]:
    meta = safe_unpickle(payload, origin)
    names = _get(meta, "label_names", origin) if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != 10:
        raise DataError(f"{origin}: 'label_names' must list 10 class names")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _assemble(read, names: list[str], origin: str) -> tuple[dict, list[str]]:
    """Arrays from the member files `names` (training batches in order, then test_batch)."""
    label_names = parse_meta(read("batches.meta"), f"{origin}/batches.meta")
    parts = [parse_batch(read(n), f"{origin}/{n}") for n in names if n != "test_batch"]
    test_x, test_y = parse_batch(read("test_batch"), f"{origin}/test_batch")
    arrays = {"train_x": np.concatenate([x for x, _ in parts]), "train_y": np.concatenate([y for _, y in parts]),
              "test_x": test_x, "test_y": test_y}
    return arrays, label_names


def from_download() -> tuple[dict, dict]:
    payload, origin = fetch(ARCHIVE)
    members = {}
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as tar:
        for name, md5 in MEMBERS_MD5.items():
            try:
                data = tar.extractfile(f"{FOLDER}/{name}").read()
            except (KeyError, AttributeError):
                raise DataError(f"{origin}: archive has no {FOLDER}/{name}") from None
            if hashlib.md5(data, usedforsecurity=False).hexdigest() != md5:
                raise DataError(f"{origin}: {FOLDER}/{name}: md5 is not the published {md5}; the archive is corrupt")
            members[name] = data
    arrays, label_names = _assemble(members.__getitem__, [*TRAIN_BATCHES, "test_batch"], origin)
    return arrays, {"archive": ARCHIVE.name, "sha256": ARCHIVE.sha256, "classes": label_names}


def from_local(folder: str | None) -> tuple[dict, dict]:
    """A user's copy in the upstream layout (cifar-10-batches-py, or the folder holding it).

    batches.meta and test_batch are required, and at least one data_batch_<k>; a subset of the
    training batches is accepted (and recorded), as long as every file has the upstream structure.
    """
    if not folder:
        raise DataError("cifar10.local_path: must name a folder when cifar10.source is local")
    root = Path(folder)
    if (root / FOLDER).is_dir():
        root = root / FOLDER
    missing = [n for n in ("batches.meta", "test_batch") if not (root / n).is_file()]
    batches = [n for n in TRAIN_BATCHES if (root / n).is_file()]
    if missing or not batches:
        wanted = missing + ([] if batches else ["data_batch_1 (at least one of data_batch_1..5)"])
        raise DataError(f"{root}: not a CIFAR-10 python folder: no {', '.join(wanted)}")
    names = ["batches.meta", *batches, "test_batch"]
    raw = {n: (root / n).read_bytes() for n in names}
    arrays, label_names = _assemble(raw.__getitem__, batches + ["test_batch"], str(root))
    files = {n: {"sha256": sha256_hex(b), "matches_upstream":
                 hashlib.md5(b, usedforsecurity=False).hexdigest() == MEMBERS_MD5[n]} for n, b in raw.items()}
    return arrays, {"folder": str(root), "batches": batches, "files": files, "classes": label_names}


# ---------------------------------------------------------------------------------------------
# Embedded: generated scenes


def _mirror(u, p):
    """Objects that face a way (cars, boats, birds...) face left or right at random."""
    return u * p["face"]


# Each drawer: (u, v, p) -> list of (signed distance, colour key) painted in order
def _house(u, v, p):
    body = P.box(u, v, 0, 0.35, 0.6, 0.5)
    roof = P.trapezoid(u, v, 0, -0.45, 0.02, 0.8, 0.32)
    door = P.box(u, v, 0.2 * p["face"], 0.62, 0.14, 0.24)
    return [(body, "main"), (roof, "second"), (door, "dark")]


def _tree(u, v, p):
    return [(P.box(u, v, 0, 0.55, 0.12, 0.45), "brown"), (P.ellipse(u, v, 0, -0.25, 0.62, 0.6), "green")]


def _car(u, v, p):
    m = _mirror(u, p)
    body = P.box(m, v, 0, 0.2, 0.95, 0.25)
    cabin = P.trapezoid(m, v, -0.15, -0.2, 0.35, 0.55, 0.2)
    wheels = P.union(P.ellipse(m, v, -0.55, 0.5, 0.22, 0.22), P.ellipse(m, v, 0.55, 0.5, 0.22, 0.22))
    window = P.trapezoid(m, v, -0.15, -0.18, 0.22, 0.4, 0.1)
    return [(P.union(body, cabin), "main"), (window, "light"), (wheels, "dark")]


def _mushroom(u, v, p):
    cap = np.maximum(P.ellipse(u, v, 0, 0.0, 0.85, 0.7), v - 0.0)
    return [(P.box(u, v, 0, 0.45, 0.2, 0.45), "light"), (cap, "main")]


def _signpost(u, v, p):
    m = _mirror(u, p)
    return [(P.box(m, v, -0.4, 0.2, 0.07, 0.8), "brown"), (P.box(m, v, 0.1, -0.45, 0.55, 0.25), "main")]


def _boat(u, v, p):
    m = _mirror(u, p)
    hull = P.trapezoid(m, v, 0, 0.55, 0.9, 0.55, 0.22)
    sail = np.maximum(P.trapezoid(m, v, 0.05, -0.2, 0.0, 0.6, 0.5), -m + 0.05)
    return [(P.box(m, v, 0.02, -0.15, 0.04, 0.55), "dark"), (sail, "light"), (hull, "main")]


def _cup(u, v, p):
    m = _mirror(u, p)
    handle = P.cut(P.ellipse(m, v, 0.5, 0.1, 0.35, 0.32), P.ellipse(m, v, 0.5, 0.1, 0.2, 0.18))
    return [(handle, "main"), (P.trapezoid(m, v, -0.1, 0.1, 0.55, 0.42, 0.6), "main"),
            (P.box(m, v, -0.1, -0.45, 0.5, 0.05), "light")]


def _snowman(u, v, p):
    return [(P.ellipse(u, v, 0, 0.45, 0.5, 0.48), "light"), (P.ellipse(u, v, 0, -0.3, 0.33, 0.32), "light"),
            (P.box(u, v, 0, -0.72, 0.25, 0.12), "dark"), (P.ellipse(u, v, 0.1 * p["face"], -0.32, 0.05, 0.05), "dark")]


def _bird(u, v, p):
    m = _mirror(u, p)
    body = P.ellipse(m, v, 0, 0.15, 0.6, 0.38)
    head = P.ellipse(m, v, 0.55, -0.3, 0.26, 0.26)
    tail = P.trapezoid(m, v, -0.75, 0.0, 0.05, 0.3, 0.2)
    beak = P.trapezoid(m, v, 0.9, -0.3, 0.0, 0.08, 0.1)
    legs = P.union(P.segment(m, v, -0.1, 0.45, -0.15, 0.85, 0.04), P.segment(m, v, 0.15, 0.45, 0.15, 0.85, 0.04))
    return [(legs, "dark"), (P.union(body, head, tail), "main"), (beak, "second")]


def _rocket(u, v, p):
    body = P.box(u, v, 0, 0.15, 0.22, 0.6)
    nose = P.trapezoid(u, v, 0, -0.65, 0.0, 0.22, 0.2)
    fins = P.union(P.trapezoid(u, v, -0.3, 0.6, 0.02, 0.12, 0.18), P.trapezoid(u, v, 0.3, 0.6, 0.02, 0.12, 0.18))
    return [(P.union(body, fins), "main"), (nose, "second"), (P.ellipse(u, v, 0, -0.05, 0.1, 0.1), "dark")]


DRAWERS = (_house, _tree, _car, _mushroom, _signpost, _boat, _cup, _snowman, _bird, _rocket)
EMBEDDED_CLASSES = ("house", "tree", "car", "mushroom", "signpost", "boat", "cup", "snowman", "bird", "rocket")


def generate(n: int, seed: int, facing_right: float = 0.5, position_range: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """n scenes (uint8, n x 3 x 32 x 32) with balanced labels, from one seeded random stream.

    A scene: a dark background shaded along a random direction, then one large object of the
    class in light colours at a random position and size, facing right with probability
    facing_right where it has a front, and a global illumination change and pixel noise.
    Objects are upright while the background has no up, so "which way is up" is learnable from
    the object alone (the transfer pretext task). position_range (0 to 1) scales how far from
    the centre an object may sit. A horizontal flip never changes the class.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(DRAWERS)).astype(np.uint8)
    axis = (np.arange(SIZE) + 0.5) / SIZE * 2 - 1
    angle = rng.uniform(-np.pi, np.pi, n)[:, None, None]
    t = np.cos(angle) * axis[None, None, :] + np.sin(angle) * axis[None, :, None]  # (N, H, W), no "up"
    canvas = rng.uniform(0.12, 0.33, (n, 3))[:, :, None, None] * (1 + 0.3 * t[:, None])
    canvas = canvas + 0.02 * P.smooth_noise(rng, n, 3, SIZE, 6)
    scale = rng.uniform(0.65, 0.9, n)
    reach = position_range * (0.95 - scale * 0.8)
    cx, cy = rng.uniform(-1, 1, n) * reach, rng.uniform(-1, 1, n) * reach
    u, v, px = P.frame(n, SIZE, cx, cy, scale, np.zeros(n))
    palette = {"main": 0.55 + 0.45 * rng.uniform(0, 1, (n, 3)), "second": 0.55 + 0.45 * rng.uniform(0, 1, (n, 3)),
               "light": 0.6 + 0.4 * rng.uniform(0, 1, (n, 3)), "dark": 0.25 * rng.uniform(0, 1, (n, 3)),
               "green": np.stack([rng.uniform(0, 0.4, n), rng.uniform(0.35, 0.9, n), rng.uniform(0, 0.4, n)], 1),
               "brown": np.stack([rng.uniform(0.3, 0.6, n), rng.uniform(0.15, 0.35, n), rng.uniform(0, 0.15, n)], 1)}
    p = {"face": P.col(np.where(rng.uniform(0, 1, n) < facing_right, 1.0, -1.0))}
    for c, draw in enumerate(DRAWERS):
        idx = np.flatnonzero(labels == c)
        for d, colour in draw(u[idx], v[idx], {k: a[idx] for k, a in p.items()}):
            canvas[idx] = P.paint(canvas[idx], P.mask(d, px[idx]), palette[colour][idx])
    canvas = canvas * P.col(rng.uniform(0.55, 1.35, n))[:, None] + rng.normal(0, 0.04, canvas.shape)
    return P.to_uint8(canvas), labels


def from_embedded(n_train: int, n_test: int, seed: int, train_facing_right: float = 0.5,
                  train_position_range: float = 1.0) -> tuple[dict, dict]:
    """Generated train and test sets. The training scenes may under-sample the variation the
    augmentations restore (objects facing right, near the centre); the test scenes never do."""
    train_x, train_y = generate(n_train, seed * 2, train_facing_right, train_position_range)
    test_x, test_y = generate(n_test, seed * 2 + 1)
    files = {"origin": "generated: dlrepro.data.cifar10.generate", "seed": seed, "classes": list(EMBEDDED_CLASSES),
             "train_facing_right": train_facing_right, "train_position_range": train_position_range}
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}, files


def prepare(values: dict, out: str | Path) -> dict:
    """Build the dataset chosen by the resolved `cifar10` params and write it as arrays to out."""
    return mnist.prepare_from(values, out, "cifar10",
                              {"embedded": from_embedded, "download": from_download, "local": from_local})
