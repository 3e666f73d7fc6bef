"""The shared seed loop: per-seed outputs, the summary over seeds, nothing half-written."""

from __future__ import annotations

import json
import time

import pytest
import torch

from dlrepro.train.provenance import read_result
from dlrepro.train.seeds import run_seeds


def fake_training(seed, generator, seed_dir):
    accuracy = 0.5 + 0.1 * seed
    (seed_dir / "model.pt").write_bytes(b"weights")
    return {"test_accuracy": accuracy}, [{"epoch": 1, "loss": 1.0 - accuracy, "seconds": 0.01}]


def run(tmp_path, train_one, seeds=(0, 1, 2)):
    return run_seeds("demo", list(seeds), train_one, tmp_path / "runs", tmp_path / "metrics.json",
                     tmp_path / "provenance.json", summary={"test_accuracy": (0, 1)}, params={"lr": 0.1},
                     data={"n_train": 3}, setting="demo", started=time.perf_counter(), device=torch.device("cpu"),
                     extra={"n_parameters": 7})


def test_every_seed_is_written_and_summarised(tmp_path):
    metrics = run(tmp_path, fake_training)
    assert metrics["test_accuracy"]["mean"] == pytest.approx(0.6)
    assert metrics["test_accuracy"]["n"] == 3
    # metrics.json: numbers only; the rest describes the result in provenance.json
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert set(metrics["test_accuracy"]) == {"mean", "std", "low", "high", "n"} and list(metrics) == ["test_accuracy"]
    described = json.loads((tmp_path / "provenance.json").read_text())
    assert described["n_parameters"] == 7 and described["params"] == {"lr": 0.1}
    assert described["data"] == {"n_train": 3} and described["setting"] == "demo"
    assert [r["seed"] for r in described["per_seed"]] == [0, 1, 2]
    assert read_result(tmp_path) == {**metrics, "n_parameters": 7, "params": {"lr": 0.1}, "data": {"n_train": 3},
                                     "setting": "demo", "per_seed": described["per_seed"]}
    for seed in (0, 1, 2):
        folder = tmp_path / "runs" / f"seed{seed}"
        assert sorted(p.name for p in folder.iterdir()) == ["history.csv", "metrics.json", "model.pt"]
        assert (folder / "history.csv").read_text().splitlines()[0] == "epoch,loss"  # no wall seconds
    assert set(json.loads((tmp_path / "provenance.json").read_text())["train_seconds"]) == {"seed0", "seed1", "seed2"}
    # the CPU is named, and the kernels torch dispatched to: results differ between CPUs (README: Reproducibility)
    assert described["device_name"] and described["cpu_kernels"] == torch.backends.cpu.get_cpu_capability()


def test_each_seed_starts_from_its_own_seeded_state(tmp_path):
    draws = {}

    def record(seed, generator, seed_dir):
        draws[seed] = (torch.rand(1).item(), torch.rand(1, generator=generator).item())
        return {"test_accuracy": 0.5}, []

    run(tmp_path / "a", record, seeds=(3, 4))
    first = dict(draws)
    run(tmp_path / "b", record, seeds=(4, 3))
    assert draws == first and first[3] != first[4]


def test_a_failing_seed_leaves_nothing_behind(tmp_path):
    def fails_on_seed_1(seed, generator, seed_dir):
        if seed == 1:
            raise RuntimeError("diverged")
        return fake_training(seed, generator, seed_dir)

    with pytest.raises(RuntimeError, match="diverged"):
        run(tmp_path, fails_on_seed_1)
    assert list(tmp_path.iterdir()) == []
