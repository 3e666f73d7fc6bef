"""Dump the pipeline as each tool sees it: stage name -> command, deps, outs, params keys.

Run as `python tests/integration/dags.py snakemake|dvc ROOT [profile]`; prints JSON. Each tool is
read through its own API in a separate process, so neither one's global state leaks into tests.
A Snakemake job with wildcards is named like DVC's foreach stages: `rule@value`.

The tools see a stage's sources and params differently (registry.inputs_stage): Snakemake through
the job's params and the fingerprint of its sources, DVC through the stage's inputs file. Both
dumps list what those stand for, the source files and the params keys, so the two compare.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def _normalise(cmd: str) -> str:
    return " ".join(cmd.split())


def snakemake_stages(root: Path, profile: str | None = None) -> dict:
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

    config = ConfigSettings(config={"profile": profile} if profile else {})
    stages = {}
    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow_api = api.workflow(resource_settings=ResourceSettings(cores=1), config_settings=config,
                                    snakefile=root / "Snakefile", workdir=root)
        workflow_api.dag(DAGSettings(forceall=True))
        workflow = workflow_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        jobs = [job for job in workflow.dag.jobs if job.rule.name != "all"]
        fingerprints = {str(o): sorted(map(str, job.input)) for job in jobs for o in job.output
                        if job.rule.name.startswith("code_")}
        for job in jobs:
            if job.rule.name.startswith("code_"):
                continue
            name = "@".join([job.rule.name, *map(str, job.wildcards_dict.values())])
            deps = [f for d in map(str, job.input) for f in fingerprints.get(d, [d])]
            stages[name] = {
                "cmd": _normalise(job.shellcmd),
                "deps": sorted(set(deps)),
                "outs": sorted(map(str, job.output)),
                "params": sorted(job.params["values"]),
            }
    return stages


def dvc_stages(root: Path) -> dict:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    stages = {}
    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            stages[stage.name] = {
                "cmd": _normalise(stage.cmd),
                "deps": sorted(d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)),
                "outs": sorted(o.def_path for o in stage.outs),
                "params": sorted(k for d in stage.deps if isinstance(d, ParamsDependency) for k in d.params),
            }
    # A folder dependency stands for the other stages' outputs inside it (a summary's variants),
    # which Snakemake lists one by one.
    outs = {o for s in stages.values() for o in s["outs"]}

    def expanded(dep: str) -> set[str]:
        inside = {o for o in outs if o.startswith(f"{dep}/")}
        return inside if inside and dep not in outs else {dep}

    # What each inputs file holds, as the inputs stage's own command writes it; a source counts
    # only where the inputs stage depends on it (else DVC would not see it change).
    from dlrepro.registry import INPUTS_DIR, INPUTS_STAGE

    inputs = stages[INPUTS_STAGE]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = inputs["cmd"].replace(f"--out {INPUTS_DIR}", f"--out {tmp}/{INPUTS_DIR}").replace("--log ", f"--log {tmp}/")
        subprocess.run([sys.executable, "-m", *cmd.split()], cwd=root, check=True, capture_output=True)
        for s in stages.values():
            for dep in [d for d in s["deps"] if d.startswith(f"{INPUTS_DIR}/")]:
                s["deps"].remove(dep)
                written = Path(tmp) / dep
                if written.exists():
                    held = json.loads(written.read_text())
                    s["deps"] += [f for f in held["code"] if f in inputs["deps"]]
                    s["params"] += [k for keys in held["params"].values() for k in keys]
            s["deps"] = sorted(set().union(*map(expanded, s["deps"])))
            s["params"] = sorted(s["params"])
    return stages


if __name__ == "__main__":
    tool, root = sys.argv[1], Path(sys.argv[2]).resolve()
    profile = sys.argv[3] if len(sys.argv) > 3 else None
    dump = snakemake_stages(root, profile) if tool == "snakemake" else dvc_stages(root)
    print(json.dumps(dump, indent=1, sort_keys=True))
