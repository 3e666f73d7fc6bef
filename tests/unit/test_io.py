import numpy as np
import pytest

from dlrepro.io import atomic_path, load_arrays, save_arrays, write_history, write_json


def test_failed_file_write_leaves_old_content(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text().strip().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_failed_directory_write_leaves_nothing(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_path(target, directory=True) as tmp:
            (tmp / "a.npy").write_bytes(b"x")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_directory_is_replaced_whole(tmp_path):
    target = tmp_path / "arrays"
    save_arrays(target, {"x": np.arange(3), "stale": np.zeros(1)})
    save_arrays(target, {"x": np.arange(4)})
    assert sorted(p.name for p in target.iterdir()) == ["meta.json", "x.npy"]
    assert load_arrays(target, ["x"])["x"].tolist() == [0, 1, 2, 3]


def test_arrays_are_byte_stable(tmp_path):
    save_arrays(tmp_path / "a", {"x": np.arange(10, dtype=np.uint8)}, {"k": 1})
    save_arrays(tmp_path / "b", {"x": np.arange(10, dtype=np.uint8)}, {"k": 1})
    for name in ("x.npy", "meta.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_missing_array_is_named(tmp_path):
    save_arrays(tmp_path / "a", {"x": np.arange(3)})
    with pytest.raises(FileNotFoundError, match="missing arrays y"):
        load_arrays(tmp_path / "a", ["x", "y"])


@pytest.mark.parametrize("float_format", [None, "%.6g"])
def test_history_csv_leaves_out_seconds_and_matches_pandas(tmp_path, float_format):
    pd = pytest.importorskip("pandas")
    rows = [{"epoch": e, "lr": 0.1, "train_loss": 1 / (e + 3), "val_accuracy": 0.1 * e, "note": None,
             "seconds": 0.25 * e} for e in range(1, 4)]
    write_history(tmp_path / "history.csv", rows, float_format)
    expected = pd.DataFrame(rows).drop(columns="seconds").to_csv(index=False, float_format=float_format)
    assert (tmp_path / "history.csv").read_text() == expected


def test_leftovers_of_a_killed_write_go_with_the_next_one(tmp_path):
    """kill -9 skips every cleanup: the next write of the same output removes what it left."""
    (tmp_path / ".runs.abc123.tmp").mkdir()
    (tmp_path / ".runs.abc123.tmp" / "model.pt").write_bytes(b"half")
    (tmp_path / ".runs.old-999").mkdir()
    (tmp_path / ".metrics.json.x1.tmp").write_text("half")
    (tmp_path / ".runs_other.q.tmp").mkdir()  # another output's: left alone
    with atomic_path(tmp_path / "runs", directory=True) as tmp:
        (tmp / "model.pt").write_bytes(b"whole")
    write_json(tmp_path / "metrics.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".runs_other.q.tmp", "metrics.json", "runs"]
