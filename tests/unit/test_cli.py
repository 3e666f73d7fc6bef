"""The stage commands have one shape per stage kind, and every family answers them the same way."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from dlrepro.cli import EXPERIMENTS, build_parser

COMMON = ["--params", "params.yaml", "--profile", "embedded", "--log", "logs/x.log"]
TRAIN = ["data_dir", "values", "runtime", "runs_dir", "metrics_path", "provenance_path", "label", "upstream"]
SUMMARIZE = ["data_dir", "results_dir", "variants", "values", "runtime", "out_dir", "upstream"]


@pytest.mark.parametrize("argv", [
    ["data", "mnist", "--out", "data/mnist"],
    ["data", "speech_features", "--data", "data/speech_utterances", "--out", "data/speech_features"],
    ["train", "svd-compress", "--variant", "svd_d20", "--data", "data/mnist", "--upstream", "results/mnist_mlp/default",
     "--runs", "results/svd_compress/svd_d20/runs", "--metrics", "results/svd_compress/svd_d20/metrics.json",
     "--provenance", "results/svd_compress/svd_d20/provenance.json"],
    ["pretrain", "cifar-transfer", "--data", "data/cifar10", "--runs", "results/cifar_transfer/pretext/runs",
     "--metrics", "results/cifar_transfer/pretext/metrics.json",
     "--provenance", "results/cifar_transfer/pretext/provenance.json"],
    ["summarize", "layer-probes", "--data", "data/mnist", "--upstream", "results/mnist_mlp/default",
     "--results", "results/layer_probes", "--out", "results/layer_probes/summary"],
    ["report", "--results", "results", "--reference", "reports/reference.csv", "--templates", "reports/templates",
     "--out", "reports/html"],
])
def test_the_generated_command_shapes_parse(argv):
    args = build_parser().parse_args([*argv, *COMMON])
    assert args.profile == "embedded" and args.log == Path("logs/x.log")


@pytest.mark.parametrize("gone", ["features", "compress", "probe", "analyze", "summarize-compression",
                                  "summarize-ablation"])
def test_the_old_stage_kinds_are_gone(gone, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([gone, "--help"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_family_trains_and_summarizes_with_one_signature(experiment):
    module = importlib.import_module(f"dlrepro.experiments.{experiment.replace('-', '_')}")
    assert list(inspect.signature(module.train).parameters) == TRAIN
    assert list(inspect.signature(module.summarize).parameters) == SUMMARIZE


def test_every_family_module_is_a_stage_choice():
    folder = Path(importlib.import_module("dlrepro.experiments").__file__).parent
    assert {p.stem.replace("_", "-") for p in folder.glob("*.py")} - {"--init--"} == set(EXPERIMENTS)
