"""Snakemake and DVC describe the same pipeline: stage names, commands, deps, outs, params.

Both come from dlrepro.registry (the rules through one loop, dvc.yaml through `make dag`); these
tests prove that the generated dvc.yaml is current and that the two tools see one DAG. A stage's
sources and params keys are compared as each tool sees them: Snakemake's through the job's params
and its code fingerprint, DVC's through the stage's inputs file (dags.py).
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DUMP = Path(__file__).with_name("dags.py")


def dump(tool: str, root: Path, *extra: str) -> dict:
    out = subprocess.run([sys.executable, str(DUMP), tool, str(root), *extra], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def differences(a: dict, b: dict) -> list[str]:
    problems = [f"only in Snakemake: {n}" for n in sorted(set(a) - set(b))]
    problems += [f"only in DVC: {n}" for n in sorted(set(b) - set(a))]
    for name in sorted(set(a) & set(b)):
        for field in ("cmd", "deps", "outs", "params"):
            if a[name][field] != b[name][field]:
                problems.append(f"{name}.{field}: Snakemake {a[name][field]!r} != DVC {b[name][field]!r}")
    return problems


def test_snakemake_and_dvc_have_the_same_stages(root):
    snakemake, dvc = dump("snakemake", root), dump("dvc", root)
    assert {"data_mnist", "train_mnist_mlp@default", "summarize_mnist_mlp", "report"} <= set(snakemake)
    assert differences(snakemake, dvc) == []


def test_committed_dvc_yaml_is_what_the_registry_generates(root):
    from dlrepro.dvc_yaml import document

    assert (root / "dvc.yaml").read_text() == document(), "dvc.yaml is stale: run `make dag` and commit it"


def test_every_stage_has_one_producer_per_output(root):
    from dlrepro import registry

    for stages in (registry.stages(), registry.dvc_stages()):
        outs = [o for s in stages for o in s.all_outs()]
        assert len(outs) == len(set(outs))


def test_parity_holds_for_the_full_profile(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["profile"] = "full"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    snakemake, dvc = dump("snakemake", project), dump("dvc", project)
    assert "--profile full" in snakemake["data_mnist"]["cmd"]
    assert differences(snakemake, dvc) == []


def test_parity_check_catches_a_drift(project):
    dvc_yaml = yaml.safe_load((project / "dvc.yaml").read_text())
    dvc_yaml["stages"]["summarize_mnist_mlp"]["deps"].remove("results/inputs/summarize_mnist_mlp.json")
    dvc_yaml["stages"]["data_mnist"]["cmd"] += " --verbose"
    dvc_yaml["stages"]["inputs"]["deps"].remove("src/dlrepro/experiments/siamese.py")
    (project / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    problems = differences(dump("snakemake", project), dump("dvc", project))
    assert any(p.startswith("summarize_mnist_mlp.params") for p in problems)
    assert any(p.startswith("summarize_mnist_mlp.deps") for p in problems)
    assert any(p.startswith("data_mnist.cmd") for p in problems)
    assert any(p.startswith("train_siamese@bilstm.deps") for p in problems)  # DVC would miss an edit
    assert any(p.startswith("inputs.deps") for p in problems)


@pytest.mark.parametrize("section", ["mnist_mlp", "svd_compress", "cifar_transfer", "siamese", "face_recognition"])
def test_a_one_line_variant_appears_in_both_tools(project, section):
    """One line in a family's params file, no other edit: a stage in both tools, read by its summary."""
    path = project / "params" / f"{section}.yaml"
    text = path.read_text()
    path.write_text(re.sub(r"^(  variants:.*)$", r"\1\n    extra: {}", text, count=1, flags=re.M))
    snakemake, dvc = dump("snakemake", project), dump("dvc", project)
    stage = f"train_{section}@extra"
    assert stage in snakemake and stage in dvc
    outputs = set(snakemake[stage]["outs"])
    assert outputs <= set(snakemake[f"summarize_{section}"]["deps"])
    assert outputs <= set(dvc[f"summarize_{section}"]["deps"])
    assert differences(snakemake, dvc) == []


def test_config_may_only_override_the_profile(project):
    from tests.integration.test_pipeline import run

    out = run(project, "snakemake", "-n", "--config", "mnist={source: download}", check=False)
    assert out.returncode != 0
    assert "--config may only set profile; edit params.yaml or params/ for mnist" in out.stdout + out.stderr
    assert "--profile full" in run(project, "snakemake", "-n", "-p", "--config", "profile=full").stdout
