import gzip
import struct

import numpy as np
import pytest

from dlrepro.data import mnist
from dlrepro.data.idx import parse_idx
from dlrepro.data.sources import MIRROR_ENV, DataError, RemoteFile, fetch, sha256_hex


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_parse_idx_roundtrip():
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    assert np.array_equal(parse_idx(idx_bytes(images), "x", (2, 28, 28)), images)


@pytest.mark.parametrize("mangle, message", [
    (lambda b: b"\x00\x00\x09\x03" + b[4:], "wrong IDX magic number"),
    (lambda b: b[:-5], "truncated"),
    (lambda b: b[:2], "too short"),
])
def test_parse_idx_refuses_bad_bytes(mangle, message):
    payload = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match=message):
        parse_idx(mangle(payload), "file.idx", (2, 28, 28))


def test_parse_idx_refuses_wrong_shape():
    with pytest.raises(DataError, match=r"file.idx: wrong IDX shape \(3, 28, 28\), expected \(2, 28, 28\)"):
        parse_idx(idx_bytes(np.zeros((3, 28, 28), np.uint8)), "file.idx", (2, 28, 28))


@pytest.fixture
def fake_mirror(tmp_path, monkeypatch):
    payload = b"hello payload"
    folder = tmp_path / "mirror" / "toy"
    folder.mkdir(parents=True)
    (folder / "f.gz").write_bytes(gzip.compress(payload))
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    return folder, payload


def test_fetch_reads_the_mirror_and_verifies_the_payload(fake_mirror):
    folder, payload = fake_mirror
    data, origin = fetch(RemoteFile("toy", "f.gz", ("http://127.0.0.1:9/",), sha256_hex(payload)))
    assert data == payload and origin == str(folder / "f.gz")


def test_checksum_mismatch_names_the_file(fake_mirror):
    folder, _ = fake_mirror
    with pytest.raises(DataError, match=r"f\.gz: checksum mismatch.*expected 0000"):
        fetch(RemoteFile("toy", "f.gz", (), "0" * 64))


def test_truncated_gzip_names_the_file(fake_mirror):
    folder, payload = fake_mirror
    (folder / "f.gz").write_bytes(gzip.compress(payload)[:-8])
    with pytest.raises(DataError, match=r"f\.gz: corrupt or truncated gzip"):
        fetch(RemoteFile("toy", "f.gz", (), sha256_hex(payload)))


def test_file_missing_from_mirror_is_named(fake_mirror):
    with pytest.raises(DataError, match=r"toy/g\.gz: not found in the mirror"):
        fetch(RemoteFile("toy", "g.gz", (), "0" * 64))


def test_no_network_and_no_mirror_says_what_to_do(monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    # Port 9 (discard) on loopback refuses at once: the same failure as a machine without network.
    remote = RemoteFile("mnist", "train-images-idx3-ubyte.gz", ("http://127.0.0.1:9/",), "0" * 64)
    with pytest.raises(DataError, match=r"could not download mnist/train-images-idx3-ubyte\.gz(.|\n)*DLREPRO_MIRROR"):
        fetch(remote, timeout_s=5)


def test_embedded_mnist_is_shaped_like_mnist_and_split_without_leaks():
    arrays, _ = mnist.from_embedded(test_fraction=0.2, split_seed=0)
    assert arrays["train_x"].shape[1:] == (28, 28) and arrays["train_x"].dtype == np.uint8
    assert len(arrays["train_x"]) + len(arrays["test_x"]) == 1797
    assert set(np.unique(arrays["test_y"])) == set(range(10))
    # No test image appears in the training set (the split is of distinct originals).
    train = {x.tobytes() for x in arrays["train_x"]}
    assert not any(x.tobytes() in train for x in arrays["test_x"])


def test_embedded_mnist_is_deterministic():
    a, _ = mnist.from_embedded(0.2, 3)
    b, _ = mnist.from_embedded(0.2, 3)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_prepare_leaves_no_output_on_bad_mirror(tmp_path, monkeypatch):
    bad = tmp_path / "mirror" / "mnist"
    bad.mkdir(parents=True)
    for name, _, _ in mnist.FILES.values():
        (bad / name).write_bytes(gzip.compress(b"not an idx file"))
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    out = tmp_path / "data" / "mnist"
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: checksum mismatch"):
        mnist.prepare({"source": "download", "local_path": None, "embedded": {}}, out)
    assert not out.exists()
    assert list((tmp_path / "data").iterdir()) == [] if (tmp_path / "data").exists() else True


def test_local_source_validates_structure(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    with pytest.raises(DataError, match=r"mine: no train-images-idx3-ubyte\.gz"):
        mnist.from_local(str(folder))
    with pytest.raises(DataError, match="local_path: must name a folder"):
        mnist.from_local(None)
