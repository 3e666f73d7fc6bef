"""Dump the pipeline as each tool sees it: stage name -> command, deps, outs, params keys.

Run as `python tests/integration/dags.py snakemake|dvc ROOT [profile]`; prints JSON. Each tool is
read through its own API in a separate process, so neither one's global state leaks into tests.
A Snakemake job with wildcards is named like DVC's foreach stages: `rule@value`.
"""

from __future__ import annotations

import json
import sys
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
        for job in workflow.dag.jobs:
            if job.rule.name == "all":
                continue
            name = "@".join([job.rule.name, *map(str, job.wildcards_dict.values())])
            stages[name] = {
                "cmd": _normalise(job.shellcmd),
                "deps": sorted(map(str, job.input)),
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

    # DVC's stages wait for the params check and track the keys every stage shares through its
    # output; Snakemake checks the params when it reads the workflow and tracks those keys per job.
    from dlrepro.registry import PARAMS_CHECK

    check = next(s for s in stages.values() if s["outs"] == [PARAMS_CHECK])
    for s in stages.values():
        if PARAMS_CHECK in s["deps"]:
            s["deps"].remove(PARAMS_CHECK)
            s["params"] = sorted({*s["params"], *check["params"]})
        s["deps"] = sorted(set().union(*map(expanded, s["deps"])))
    return stages


if __name__ == "__main__":
    tool, root = sys.argv[1], Path(sys.argv[2]).resolve()
    profile = sys.argv[3] if len(sys.argv) > 3 else None
    dump = snakemake_stages(root, profile) if tool == "snakemake" else dvc_stages(root)
    print(json.dumps(dump, indent=1, sort_keys=True))
