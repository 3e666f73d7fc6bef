# Helpers shared by every rule file. Rules pass values to `dlrepro` only as --profile and paths,
# and track the same params.yaml keys that their DVC stages list.
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


validate(config, "../schemas/params.schema.yaml")


def _check_overrides(params_file="params.yaml"):
    """dlrepro reads params.yaml itself: only `profile` may differ from it (--config profile=...)."""
    with open(params_file) as f:
        on_disk = yaml.safe_load(f)
    changed = sorted(k for k in set(config) | set(on_disk) if k != "profile" and config.get(k) != on_disk.get(k))
    if changed:
        raise WorkflowError(
            f"--config may only set profile; edit {params_file} for {', '.join(changed)} "
            "(every stage reads its values from that file)"
        )


_check_overrides()


def tracked(*keys):
    """Values of the params.yaml keys (dotted paths) a rule depends on, keyed by path.

    Snakemake re-runs a rule when these change, exactly as DVC does for its stage's params.
    """
    values = {}
    for key in keys:
        node = config
        for part in key.split("."):
            node = node[part]
        values[key] = node
    return values


def variants(section):
    """Variant names of an experiment (profiles may override their values, not add names)."""
    return list(config[section]["variants"])


CONDA_ENV = "../envs/dlrepro.yaml"


def profiled(section):
    """A section's values with the active profile's overrides merged over them (top level)."""
    raw = config[section]
    return {**raw, **raw.get("profiles", {}).get(config["profile"], {})}


# Cores a torch stage reserves from the scheduler; dlrepro sets the same count itself.
TORCH_THREADS = profiled("runtime")["threads"] or workflow.cores
# Report pages rendered at once (each its own process and kernel), as dlrepro resolves it.
REPORT_WORKERS = profiled("report")["workers"] or workflow.cores


def code(*modules):
    """Source files of the package a stage runs, so editing them re-runs the stage."""
    return [f"src/dlrepro/{m}" for m in modules]


# Image-classification families (workflow/rules/images.smk).
VARIANT_OUTPUTS = ["runs", "provenance.json", "metrics.json"]


def variant_values(section, *keys):
    """tracked() for one variant's job: the section's shared keys, its variant, its profiles."""
    return lambda wildcards: tracked(
        "profile",
        "runtime",
        *(f"{section}.{k}" for k in keys),
        f"{section}.variants.{wildcards.variant}",
        f"{section}.profiles",
    )


def family_outputs(section, names=None):
    return expand(
        "results/{section}/{variant}/{output}",
        section=section,
        variant=names or variants(section),
        output=VARIANT_OUTPUTS,
    )


def train_cmd(experiment, extra=""):
    return (
        f"dlrepro train {experiment} --variant {{wildcards.variant}} --params params.yaml --profile {{params.profile}}"
        " --data {input.data} --runs {output.runs} --metrics {output.metrics}"
        f" --provenance {{output.provenance}}{extra} --log {{log}}"
    )

