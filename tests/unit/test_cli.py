"""The stage commands have one shape per stage kind, and every family answers them the same way."""

from __future__ import annotations

import importlib
import inspect
import shlex
from pathlib import Path

import pytest

from dlrepro import registry
from dlrepro.cli import EXPERIMENTS, build_parser

TRAIN = ["data_dir", "values", "runtime", "runs_dir", "metrics_path", "provenance_path", "label", "upstream"]
SUMMARIZE = ["data_dir", "results_dir", "variants", "values", "runtime", "out_dir", "upstream"]
FUNCS = {"data": "cmd_data", "train": "cmd_train", "pretrain": "cmd_pretrain", "summarize": "cmd_summarize",
         "inputs": "cmd_inputs", "report": "cmd_report", "code": "cmd_code"}


@pytest.mark.parametrize("stage", registry.stages(), ids=lambda s: s.name)
def test_every_registry_command_parses(stage):
    """The command each tool runs for a stage (first variant, embedded) reaches its subcommand."""
    argv = shlex.split(stage.cmd.format(variant="v", profile="embedded"))
    assert argv[0] == "dlrepro"
    args = build_parser().parse_args(argv[1:])
    assert args.func.__name__ == FUNCS[args.command]
    assert str(args.log) == stage.log.format(variant="v")
    if args.params is not None:  # every stage that reads the params runs the active profile
        assert args.profile == "embedded"


def test_a_code_fingerprint_is_what_sha256sum_checks(tmp_path, monkeypatch):
    """`dlrepro code` writes sha256sum's format: `sha256sum -c` accepts it, and fails on an edit."""
    import subprocess

    from dlrepro.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("a.py", "b.py"):
        Path(name).write_text(f"# {name}\n")
    assert main(["code", "--out", "out/code.sha256", "a.py", "b.py"]) == 0
    lines = Path("out/code.sha256").read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["a.py", "b.py"]
    assert subprocess.run(["sha256sum", "-c", "out/code.sha256"], capture_output=True).returncode == 0
    Path("b.py").write_text("# changed\n")
    assert subprocess.run(["sha256sum", "-c", "out/code.sha256"], capture_output=True).returncode == 1


def test_inputs_hold_each_stages_params_and_code_and_a_typo_keeps_the_old_ones(tmp_path, monkeypatch, capsys):
    """`dlrepro inputs`: one file per DVC stage (and variant), with exactly the params values the
    stage tracks and the hash of each of its sources; the same bytes again; after a typo, an error
    naming the key and the last good files untouched."""
    import hashlib
    import json
    import shutil

    import yaml

    from dlrepro.cli import main
    from dlrepro.config import read_params

    root = Path(registry.__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    out = tmp_path / "inputs"
    assert main(["inputs", "--out", str(out)]) == 0
    params, _ = read_params("params.yaml")
    expected = {registry.inputs_file(s, str(out)).format(variant=v) for s in registry.dvc_stages()[1:]
                for v in (params[s.variants]["variants"] if s.variants else [None])}
    assert {str(p) for p in out.rglob("*.json")} == expected
    held = json.loads((out / "train_mlp_ablation" / "lr_high.json").read_text())
    ablation = held["params"]["params/mlp_ablation.yaml"]
    assert ablation["mlp_ablation.variants.lr_high"] == params["mlp_ablation"]["variants"]["lr_high"]
    assert not [k for k in ablation if k.startswith("mlp_ablation.variants.") and not k.endswith(".lr_high")]
    assert held["params"]["params.yaml"]["profile"] == params["profile"]
    stage = next(s for s in registry.work_stages() if s.name == "train_mlp_ablation")
    assert held["code"] == {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in stage.code}
    before = {p: p.read_bytes() for p in out.rglob("*.json")}
    assert main(["inputs", "--out", str(out)]) == 0
    assert {p: p.read_bytes() for p in out.rglob("*.json")} == before

    copy = tmp_path / "project"
    shutil.copytree("params", copy / "params")
    shutil.copytree("workflow/schemas", copy / "workflow/schemas")
    shutil.copy("params.yaml", copy / "params.yaml")
    section = yaml.safe_load((copy / "params/mnist_mlp.yaml").read_text())
    section["mnist_mlp"]["train"]["learning_rate"] = 0.1
    (copy / "params/mnist_mlp.yaml").write_text(yaml.safe_dump(section))
    assert main(["inputs", "--out", str(out), "--params", str(copy / "params.yaml")]) == 2
    assert "mnist_mlp.train: unknown key 'learning_rate'" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*.json")} == before


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
