"""Each broken training setup really fails, its diagnostics show why, and its fix really trains.

Runs the real stage code on the embedded MNIST stand-in with the embedded profile's values.
"""

from __future__ import annotations

import pytest

from dlrepro.config import Params
from dlrepro.data import mnist
from dlrepro.experiments import training_diagnosis
from dlrepro.train.provenance import read_result
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("diagnosis")
    params = Params(ROOT / "params.yaml", "embedded")
    mnist.prepare(params.section("mnist"), tmp / "mnist")
    out = {}
    for variant in params.raw["training_diagnosis"]["variants"]:
        values = params.section("training_diagnosis", variant)
        training_diagnosis.train(tmp / "mnist", values, params.section("runtime"), tmp / variant / "runs",
                                 tmp / variant / "metrics.json", tmp / variant / "provenance.json", label=variant)
        out[variant] = read_result(tmp / variant)  # the accuracies, and the diagnosis from provenance.json
    return out


def accuracies(metrics):
    return metrics["broken_test_accuracy"]["mean"], metrics["test_accuracy"]["mean"]


def test_there_are_five_setups(results):
    assert set(results) == {"lr_too_high", "saturated_sigmoid", "zero_init", "sorted_labels", "double_softmax"}


@pytest.mark.parametrize("variant", ["lr_too_high", "saturated_sigmoid", "zero_init", "sorted_labels", "double_softmax"])
def test_every_fix_trains_and_every_broken_setup_falls_behind(results, variant):
    broken, fixed = accuracies(results[variant])
    assert fixed >= 0.75, f"{variant}: the fixed run only reaches {fixed:.3f}"
    assert broken <= fixed - 0.07, f"{variant}: broken {broken:.3f} is not clearly worse than fixed {fixed:.3f}"
    assert results[variant]["diagnosis"]["fixed"]["loss_finite"]


def test_lr_too_high_diverges(results):
    m = results["lr_too_high"]
    broken, _ = accuracies(m)
    assert broken <= 0.2
    assert not m["diagnosis"]["broken"]["loss_finite"]  # the loss blows up to inf/NaN


def test_saturated_sigmoids_are_pinned_at_zero_and_one(results):
    m = results["saturated_sigmoid"]
    broken, _ = accuracies(m)
    d = m["diagnosis"]
    assert broken <= 0.3
    assert d["broken"]["saturated_fraction_first"] >= 0.9 and d["fixed"]["saturated_fraction_first"] <= 0.1
    assert d["broken"]["loss_first"] > 10 * d["fixed"]["loss_first"]


def test_zero_init_gets_no_hidden_gradient_and_predicts_one_class(results):
    m = results["zero_init"]
    broken, _ = accuracies(m)
    d = m["diagnosis"]
    assert broken <= 0.15
    assert d["broken"]["hidden_grad_norm_max"] == 0 and d["fixed"]["hidden_grad_norm_max"] > 0.1
    assert d["broken"]["dead_fraction_last"] == 1
    assert all(r["broken_classes_predicted"] == 1 for r in m["per_seed"])


def test_sorted_labels_forget_all_but_the_last_classes(results):
    m = results["sorted_labels"]
    broken, _ = accuracies(m)
    assert broken <= 0.5
    assert all(r["broken_classes_predicted"] < 10 for r in m["per_seed"])


def test_double_softmax_hits_the_loss_floor(results):
    d = results["double_softmax"]["diagnosis"]
    # probabilities as logits: cross-entropy cannot fall below log(1 + 9/e) = 1.46
    assert d["broken"]["loss_last"] >= 1.46 > 0.5 >= d["fixed"]["loss_last"]
