"""MNIST from upstream (or the mirror), from a local copy, or embedded from scikit-learn's digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlrepro.data.idx import parse_idx
from dlrepro.data.sources import DataError, RemoteFile, decompress, fetch, sha256_hex
from dlrepro.io import save_arrays

URLS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# array name -> (upstream file, sha256 of the decompressed payload, shape)
FILES = {
    "train_x": ("train-images-idx3-ubyte.gz",
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", (60000, 28, 28)),
    "train_y": ("train-labels-idx1-ubyte.gz",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", (60000,)),
    "test_x": ("t10k-images-idx3-ubyte.gz",
               "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", (10000, 28, 28)),
    "test_y": ("t10k-labels-idx1-ubyte.gz",
               "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", (10000,)),
}
ARRAYS = tuple(FILES)
N_CLASSES = 10


def _check_labels(labels: np.ndarray, origin: str) -> None:
    if labels.size and labels.max() >= N_CLASSES:
        raise DataError(f"{origin}: label {int(labels.max())} out of range 0..{N_CLASSES - 1}")


def from_download(table: dict = FILES, dataset: str = "mnist", urls: tuple[str, ...] = URLS,
                  sha256_of: str = "payload") -> tuple[dict, dict]:
    """IDX files of an MNIST-like dataset (the table: array name -> file, sha256, shape)."""
    arrays, files = {}, {}
    for key, (name, sha, shape) in table.items():
        payload, origin = fetch(RemoteFile(dataset, name, urls, sha, sha256_of))
        arrays[key] = parse_idx(payload, origin, shape)
        files[key] = {"file": name, "sha256": sha, "sha256_of": sha256_of}
    return arrays, files


def from_local(folder: str | None, table: dict = FILES, dataset: str = "mnist",
               sha256_of: str = "payload") -> tuple[dict, dict]:
    """A user's copy: files named as upstream, gzipped or not, validated by structure."""
    if not folder:
        raise DataError(f"{dataset}.local_path: must name a folder when {dataset}.source is local")
    folder_path = Path(folder)
    arrays, files = {}, {}
    for key, (name, sha, shape) in table.items():
        candidates = [folder_path / name, folder_path / name.removesuffix(".gz")]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise DataError(f"{folder_path}: no {name} (or {name.removesuffix('.gz')}) in the local {dataset} folder")
        raw = path.read_bytes()
        payload = decompress(raw, path.name, str(path))
        arrays[key] = parse_idx(payload, str(path), shape)
        digest = sha256_hex(raw if sha256_of == "file" else payload)
        files[key] = {"file": str(path), "sha256": digest, "matches_upstream": digest == sha}
    return arrays, files


def from_embedded(test_fraction: float, split_seed: int) -> tuple[dict, dict]:
    """scikit-learn's 1,797 real 8x8 digits, scaled to a 20x20 box centred in 28x28 like MNIST.

    The train/test split is made on the original images, stratified by class; nothing derived
    from a test image reaches the training set.
    """
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0)[:, None]
    box = torch.nn.functional.interpolate(images, size=(20, 20), mode="bilinear", align_corners=False)
    canvas = torch.nn.functional.pad(box, (4, 4, 4, 4))[:, 0]
    pixels = (canvas.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    labels = digits.target.astype(np.uint8)
    train_x, test_x, train_y, test_y = train_test_split(
        pixels, labels, test_size=test_fraction, random_state=split_seed, stratify=labels)
    files = {"origin": "sklearn.datasets.load_digits", "n_images": int(len(labels))}
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}, files


def prepare(values: dict, out: str | Path) -> dict:
    """Build the dataset chosen by the resolved `mnist` params and write it as arrays to out."""
    return prepare_from(values, out, "mnist", {"embedded": from_embedded, "download": from_download,
                                                "local": from_local})


def prepare_from(values: dict, out: str | Path, dataset: str, sources: dict, **extra) -> dict:
    """Read or build a dataset with the function of its `source` (embedded: called with the
    `embedded` values; download: no arguments; local: local_path) and save it to out.

    A source may name the classes itself (files["classes"]); they go to meta.json's "classes".
    """
    source = values["source"]
    if source == "embedded":
        arrays, files = sources["embedded"](**values["embedded"])
    elif source == "download":
        arrays, files = sources["download"]()
    else:
        arrays, files = sources["local"](values["local_path"])
    if "classes" in files:
        extra = {**extra, "classes": files.pop("classes")}
    return save(dataset, source, arrays, files, out, **extra)


def save(dataset: str, source: str, arrays: dict, files: dict, out: str | Path, **extra) -> dict:
    """Check the labels, then write the four arrays and meta.json (shapes, class counts) to out."""
    for key in ("train_y", "test_y"):
        _check_labels(arrays[key], str(files.get(key, {}).get("file", key)))
    meta = {
        **extra,
        "dataset": dataset,
        "source": source,
        "files": files,
        "shapes": {k: list(v.shape) for k, v in arrays.items()},
        "class_counts": {k: np.bincount(arrays[k], minlength=N_CLASSES).tolist() for k in ("train_y", "test_y")},
    }
    save_arrays(out, arrays, meta)
    return meta
