"""The mytorch family's twins: mytorch and torch trained side by side stay the same model."""

from __future__ import annotations

import numpy as np
import pytest

from dlrepro.experiments.mytorch import Twins, batch_of, build, model_input

MODELS = {"mlp": {"kind": "mlp", "hidden": [16, 8]},
          "cnn": {"kind": "cnn", "channels": [3, 4], "kernel": 5},
          "gru": {"kind": "gru", "gru_hidden": 6}}
RULES = {"sgd": {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9},
         "momentum": {"optimizer": "momentum", "lr": 0.05, "momentum": 0.9},
         "adam": {"optimizer": "adam", "lr": 0.01, "momentum": 0.9}}


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("kind", MODELS)
def test_twins_stay_together_over_training_steps(kind, rule):
    rng = np.random.default_rng(1)
    images, labels = rng.random((40, 1, 28, 28)), rng.integers(0, 10, 40)
    x = model_input(kind, images)
    twins = Twins({**MODELS[kind]}, RULES[rule], np.random.default_rng(0), np.float64)
    assert twins.weight_difference() == 0.0  # the twin starts from mytorch's weights
    for step in range(5):
        idx = np.arange(8 * step, 8 * step + 8)
        ours = twins.step_mytorch(batch_of(kind, x, idx), labels[idx])
        theirs = twins.step_torch(batch_of(kind, x, idx), labels[idx])
        assert ours == pytest.approx(theirs, rel=1e-12)
    assert 0 < twins.weight_difference() < 1e-12
    found = twins.accuracies(x, labels)
    assert found["agreement"] == 1.0 and found["mytorch"] == found["torch"]


def test_a_twin_that_drifts_is_seen():
    """The weight difference is a real measure: nudging one mytorch weight shows up in it."""
    twins = Twins(MODELS["mlp"], RULES["sgd"], np.random.default_rng(0), np.float64)
    next(iter(twins.ours.parameters())).data[0, 0] += 1e-3
    assert twins.weight_difference() == pytest.approx(1e-3)


def test_the_cnn_must_leave_something_of_the_image():
    with pytest.raises(ValueError, match="leave nothing of a 28×28 image"):
        build({"kind": "cnn", "channels": [2, 2, 2], "kernel": 5}, np.random.default_rng(0), np.float64)


def test_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match="'rmsprop'"):
        Twins(MODELS["mlp"], {**RULES["sgd"], "optimizer": "rmsprop"}, np.random.default_rng(0), np.float64)
