"""Fashion-MNIST and CIFAR-10 sources: restricted unpickling, local copies, checksums, generators."""

import gzip
import json
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from dlrepro.data import cifar10, fashion_mnist
from dlrepro.data.sources import MIRROR_ENV, DataError


def batch_bytes(n=6, seed=0, labels=None, data=None) -> bytes:
    """A batch pickled like the upstream files: protocol 2, bytes keys, a uint8 N x 3072 array."""
    rng = np.random.default_rng(seed)
    batch = {b"batch_label": b"test batch", b"labels": [i % 10 for i in range(n)] if labels is None else labels,
             b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8) if data is None else data,
             b"filenames": [f"img{i}.png".encode() for i in range(n)]}
    return pickle.dumps(batch, protocol=2)


def meta_bytes() -> bytes:
    return pickle.dumps({b"label_names": [c.encode() for c in cifar10.CLASSES], b"num_vis": 3072}, protocol=2)


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_a_pickle_that_would_run_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": RunsCode(marker)}, protocol=2)
    pickle.loads(pickle.dumps(0))  # plain pickle itself works here
    with pytest.raises(DataError, match=r"evil_batch: not a plain-data pickle.*refused to load (posix|os)\.system"):
        cifar10.parse_batch(payload, "evil_batch")
    assert not marker.exists()


@pytest.mark.parametrize("obj, message", [
    (np.array([object(), 1], dtype=object), "refused"),
    (np.ma.masked_array([1, 2]), "refused"),
    (print, r"refused to load (__builtin__|builtins)\.print"),
])
def test_restricted_unpickler_refuses_objects_beyond_plain_data(obj, message):
    with pytest.raises(DataError, match=message):
        cifar10.safe_unpickle(pickle.dumps({b"data": obj}, protocol=2), "batch")


def test_parse_batch_reads_upstream_layout_channels_first():
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    x, y = cifar10.parse_batch(batch_bytes(2, data=data), "b")
    assert x.shape == (2, 3, 32, 32) and x.dtype == np.uint8 and y.tolist() == [0, 1]
    # Rows are planes R, G, B of 1,024 pixels each, row-major.
    assert np.array_equal(x[0, 1].ravel(), data[0, 1024:2048])


@pytest.mark.parametrize("data, message", [
    (np.zeros((6, 3000), np.uint8), "'data' must be uint8 N x 3072"),
    (np.zeros((6, 3072), np.float32), "'data' must be uint8 N x 3072"),
])
def test_parse_batch_refuses_wrong_structure(data, message):
    with pytest.raises(DataError, match=message):
        cifar10.parse_batch(batch_bytes(6, data=data), "b")


def test_parse_batch_refuses_out_of_range_labels():
    with pytest.raises(DataError, match="'labels' must be 6 integers in 0..9"):
        cifar10.parse_batch(batch_bytes(6, labels=[0, 1, 2, 3, 4, 12]), "b")


def local_copy(folder, batches=("data_batch_1",), test=True):
    folder.mkdir(parents=True)
    (folder / "batches.meta").write_bytes(meta_bytes())
    for i, name in enumerate(batches):
        (folder / name).write_bytes(batch_bytes(8, seed=i))
    if test:
        (folder / "test_batch").write_bytes(batch_bytes(5, seed=9))
    return folder


def test_local_copy_with_a_subset_of_batches(tmp_path):
    local_copy(tmp_path / "mine" / cifar10.FOLDER, ["data_batch_1", "data_batch_3"])
    arrays, files = cifar10.from_local(str(tmp_path / "mine"))  # the parent folder works too
    assert arrays["train_x"].shape == (16, 3, 32, 32) and arrays["test_x"].shape == (5, 3, 32, 32)
    assert files["batches"] == ["data_batch_1", "data_batch_3"]
    assert files["classes"] == list(cifar10.CLASSES)
    assert not files["files"]["data_batch_1"]["matches_upstream"]


def test_local_copy_without_test_batch_is_named(tmp_path):
    folder = local_copy(tmp_path / "c", test=False)
    with pytest.raises(DataError, match=r"c: not a CIFAR-10 python folder: no test_batch"):
        cifar10.from_local(str(folder))
    with pytest.raises(DataError, match="cifar10.local_path: must name a folder"):
        cifar10.from_local(None)


def test_download_verifies_the_archive_before_unpacking(tmp_path, monkeypatch):
    folder = tmp_path / "mirror" / "cifar-10"
    folder.mkdir(parents=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = batch_bytes(4)
        info = tarfile.TarInfo(f"{cifar10.FOLDER}/data_batch_1")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (folder / "cifar-10-python.tar.gz").write_bytes(buffer.getvalue())
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    with pytest.raises(DataError, match=r"cifar-10-python\.tar\.gz: checksum mismatch: sha256 of the file"):
        cifar10.from_download()


def test_fashion_mnist_checksums_are_of_the_decompressed_payload(tmp_path, monkeypatch):
    folder = tmp_path / "mirror" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name, _, _ in fashion_mnist.FILES.values():
        (folder / name).write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 8))
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: checksum mismatch: sha256 of the payload"):
        fashion_mnist.prepare({"source": "download", "local_path": None, "embedded": {}}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.realdata
def test_fashion_mnist_from_the_mirror_whose_gzip_wrappers_differ_from_upstream(mirror, monkeypatch, tmp_path):
    # The mirror holds Debian's gzip files: other gzip bytes, the upstream payload.
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    fashion_mnist.prepare({"source": "download", "local_path": None, "embedded": {}}, tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["shapes"]["train_x"] == [60000, 28, 28] and meta["shapes"]["test_y"] == [10000]


@pytest.mark.parametrize("module, shape", [(fashion_mnist, (28, 28)), (cifar10, (3, 32, 32))])
def test_generated_datasets_are_shaped_balanced_deterministic_and_do_not_leak(module, shape):
    arrays, _ = module.from_embedded(n_train=200, n_test=100, seed=3)
    again, _ = module.from_embedded(n_train=200, n_test=100, seed=3)
    other, _ = module.from_embedded(n_train=200, n_test=100, seed=4)
    assert arrays["train_x"].shape == (200, *shape) and arrays["train_x"].dtype == np.uint8
    assert np.bincount(arrays["train_y"], minlength=10).tolist() == [20] * 10
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)
    assert not np.array_equal(arrays["train_x"], other["train_x"])
    train = {x.tobytes() for x in arrays["train_x"]}
    assert not any(x.tobytes() in train for x in arrays["test_x"])
    # Not blank: images span most of the intensity range and differ within a class.
    assert arrays["train_x"].max() > 200 and arrays["train_x"].std() > 20
    first = arrays["train_x"][arrays["train_y"] == 0]
    assert not np.array_equal(first[0], first[1])
