# Helpers of the rules: the params (read and checked by dlrepro itself, so both
# tools and every stage see the same values and the same errors) and the registry's stages in
# Snakemake's terms. Rules pass values to `dlrepro` only as --profile and paths.
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from dlrepro import registry
from dlrepro.config import ParamsError, Params


def _check_overrides():
    """dlrepro reads the params files itself: only `profile` may differ (--config profile=...)."""
    changed = sorted(k for k in config if k != "profile" and config[k] != PARAMS.raw.get(k))
    if changed:
        raise WorkflowError(
            f"--config may only set profile; edit {registry.PARAMS} or params/ for {', '.join(changed)} "
            "(every stage reads its values from those files)"
        )


try:
    PARAMS = Params(registry.PARAMS, config["profile"])
    PARAMS.check()  # every section and variant resolves for the profile, before any job runs
except ParamsError as exc:
    # The file and dotted key first, as dlrepro and DVC say them, not under a traceback.
    sys.exit(f"Invalid params: {exc}")
_check_overrides()
PROFILE = PARAMS.profile


def variants(section):
    """Variant names of an experiment (profiles may override their values, not add names)."""
    return list(PARAMS.raw[section]["variants"])


VALUES = {**PARAMS.raw, "profile": PROFILE}  # as the stages see them: --config profile=... applied


def tracked(stage):
    """The values of the params keys a stage tracks, keyed by dotted path (a function of the
    variant where the keys name it). Snakemake re-runs a job when they change, as DVC does."""

    def flat(variant=None):
        return {k: v for values in registry.tracked_values(stage, VALUES, variant).values() for k, v in values.items()}

    return (lambda wildcards: flat(wildcards.variant)) if stage.variants else flat()


def command(stage):
    """The stage's command line for a job, a function of the variant where the stage has them.

    It reaches shell: through params because Snakemake evaluates a shell: expression when the job
    runs, once the loop over the stages has ended: read there, `stage` would be the last stage.
    """
    if stage.variants:
        return lambda wildcards: stage.cmd.format(variant=wildcards.variant, profile=PROFILE)
    return stage.cmd.format(profile=PROFILE)


def outputs(stage):
    """Folders (no suffix) as directory() outputs, files as they are; those the stage shows
    (registry: Stage.shown) flagged for Snakemake's own report, under the stage's family."""
    return [shown(stage, path, path if Path(path).suffix else directory(path)) for path in stage.all_outs()]


def shown(stage, path, output):
    kind = stage.shown.get(path)
    if kind is None:
        return output
    if kind == "metrics":
        # the variant's folder names it (a pretext stage's folder sits beside the variants')
        return report(output, category=stage.category, subcategory="metrics",
                      labels={"variant": "{variant}" if stage.variants else Path(path).parent.name})
    if kind == "figures":
        return report(output, category=stage.category, subcategory="figures", patterns=["{name}.png"],
                      labels={"figure": "{name}"})
    return report(output, category=stage.category, htmlindex="index.html", labels={"page": "index"})


def inputs(stage):
    """Data, upstream results and the code's fingerprint; for a fingerprint and the inputs stage,
    the files they read."""
    if stage.runs_on_content:
        # They run when their output is missing or their files' hashes (their params) change, never
        # for a time stamp: a file touched, or edited and then restored, re-runs nothing.
        return [ancient(path) for path in stage.deps]
    collected = []
    if stage.collects:
        for variant in variants(stage.collects):
            collected += [path.format(variant=variant) for s in STAGES if s.variants == stage.collects
                          for path in s.all_outs()]
    return [*stage.deps, *collected]


def code_hashes(stage):
    """A fingerprint's (or the inputs stage's) files and their hashes, its param: Snakemake re-runs
    it, and through a fingerprint the stages that import the files, when a file's content changes,
    as DVC does (an edit undone re-runs nothing). Other stages see their code only through their
    fingerprint."""
    return {path: registry.source_hash(path) for path in stage.deps} if stage.runs_on_content else {}


def expanded_outputs(stage):
    names = variants(stage.variants) if stage.variants else [None]
    return [path.format(variant=name) for name in names for path in stage.all_outs()]


CONDA_ENV = "../envs/dlrepro.yaml"
# Cores a stage reserves from the scheduler; dlrepro sets the same counts itself.
THREADS = {
    "one": 1,
    "torch": PARAMS.section("runtime")["threads"] or workflow.cores,  # torch threads per training stage
    "report": PARAMS.section("report")["workers"] or workflow.cores,  # report pages rendered at once
}
STAGES = registry.stages()
ALL_OUTPUTS = [path for stage in STAGES for path in expanded_outputs(stage)]
