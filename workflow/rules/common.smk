# Helpers shared by every rule file. Rules pass values to `dlrepro` only as --profile and paths,
# and track the same params.yaml keys that their DVC stages list.
from snakemake.utils import validate


validate(config, "../schemas/params.schema.yaml")


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
# Cores a torch stage reserves from the scheduler; dlrepro sets the same count itself.
TORCH_THREADS = config["runtime"]["threads"] or workflow.cores


def code(*modules):
    """Source files of the package a stage runs, so editing them re-runs the stage."""
    return [f"src/dlrepro/{m}" for m in modules]


def stage_threads(section):
    """Cores a stage of a section with its own `threads` value reserves (after the profile override);
    0 falls back to TORCH_THREADS. dlrepro resolves and uses the same count."""
    raw = config[section]
    value = raw.get("profiles", {}).get(config["profile"], {}).get("threads", raw["threads"])
    return value or TORCH_THREADS
