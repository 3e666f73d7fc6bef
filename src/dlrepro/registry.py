"""The one declaration of the pipeline: every dataset, every experiment family, and their stages.

Snakemake's rules (workflow/rules/stages.smk), the generated dvc.yaml (`make dag`), the CLI's
choices and the params schema's required sections all come from this file. Adding a family
means one `Experiment(...)` entry here, its module `experiments/<section>.py`, its params file
`params/<section>.yaml` (and its schema definition) and its page `reports/templates/<section>.ipynb`.

A stage is described once, as a template over its variant: the command, what it reads (data,
upstream results, params keys) and what it writes. `{variant}` and `{profile}` stand for the
variant and the active profile; each tool fills them in its own syntax. This module imports only
the standard library: Snakemake imports it to build the DAG, so it must stay cheap.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent  # src/dlrepro
PARAMS = "params.yaml"  # profile, runtime, report: what every stage shares
SHARED_SECTIONS = ("profile", "runtime", "report")
EVERY_STAGE = ("profile", "runtime")  # what every stage tracks: the profile, how models run


def params_file(section: str) -> str:
    """Where a section's values live: params.yaml for the shared ones, else params/<section>.yaml.

    One small file per section keeps a DVC no-op fast: DVC re-reads a stage's params files for
    every stage, so their size, not the whole project's values, sets the cost per stage.
    """
    return PARAMS if section in SHARED_SECTIONS else f"params/{section}.yaml"


@dataclass(frozen=True)
class Dataset:
    """A dataset stage: `dlrepro data <name>` writes data/<name> from params section <name>."""

    name: str
    needs: str | None = None  # a dataset this one is computed from (features of utterances)
    files: tuple[str, ...] = ()  # package files besides modules that the stage reads

    @property
    def module(self) -> str:
        return f"dlrepro.data.{self.name}"


@dataclass(frozen=True)
class Experiment:
    """An experiment family: params section, results/<section>, module experiments/<section>.py.

    Every family has the same stages: `train_<section>@<variant>` for each variant of its params
    (seeds inside), then `summarize_<section>`, whose folder is all its report page reads.
    """

    section: str
    data: str  # the dataset it trains on
    keys: tuple[str, ...]  # section keys a variant's training reads (with variants.<v> and profiles)
    headline: tuple[str, ...]  # metrics summarised over seeds that the index and `dvc exp show` show
    summary_keys: tuple[str, ...] = ("variants",)  # section keys the summary reads
    upstream: str | None = None  # results/<upstream> every variant starts from ("<section>/<variant>")
    pretrain_keys: tuple[str, ...] = ()  # a pretext stage (results/<section>/pretext) the variants start from
    curves: tuple[str, ...] = ("train_loss", "val_loss")  # history columns `dvc plots show` draws, if any
    curve_x: str = "epoch"

    @property
    def name(self) -> str:
        """The CLI's name for it: the section with dashes."""
        return self.section.replace("_", "-")

    @property
    def module(self) -> str:
        return f"dlrepro.experiments.{self.section}"


DATASETS = (
    Dataset("mnist"),
    Dataset("fashion_mnist"),
    Dataset("cifar10"),
    Dataset("speech_denoise"),
    Dataset("speech_utterances", files=("data/fsdd.sha256",)),
    Dataset("speech_features", needs="speech_utterances"),
    Dataset("speech_alignment", needs="speech_utterances"),
    Dataset("speech_sequences", needs="speech_utterances"),
    Dataset("faces"),
)

ACCURACY = ("test_accuracy",)
SNR = ("test_snr_db",)
EXPERIMENTS = (
    # MNIST studies
    Experiment("mnist_mlp", "mnist", ("model", "train"), ACCURACY, summary_keys=("model", "train", "analysis")),
    Experiment("mlp_ablation", "mnist", ("model", "train"), ACCURACY, summary_keys=("summary", "variants")),
    Experiment("mnist_linear", "mnist", ("train",), ACCURACY, curve_x="step"),
    Experiment("layer_probes", "mnist", ("units", "draws", "probe_train_size", "steps", "lr", "weight_decay", "seed"),
               ("last_layer_subset_test_accuracy",), upstream="mnist_mlp/default", curves=()),
    Experiment("training_diagnosis", "mnist", ("model", "softmax_output", "train", "diagnostics", "broken"),
               ("test_accuracy", "broken_test_accuracy"), curve_x="step"),
    Experiment("input_order", "mnist", ("storage", "model", "train", "orders"), ACCURACY, curves=()),
    Experiment("svd_compress", "mnist", ("method", "finetune", "loop"), ("test_accuracy", "size_pct"),
               summary_keys=("claim", "variants"), upstream="mnist_mlp/default", curves=()),
    # Fashion-MNIST and CIFAR-10
    Experiment("fmnist_mlp_grid", "fashion_mnist", ("data", "model", "train"), ACCURACY),
    Experiment("fmnist_cnn", "fashion_mnist", ("data", "model", "train"), ACCURACY),
    Experiment("cifar_cnn", "cifar10", ("data", "model", "train"), ACCURACY),
    Experiment("cifar_augment", "cifar10", ("data", "model", "train", "augment"), ACCURACY),
    Experiment("cifar_transfer", "cifar10", ("data", "model", "finetune", "train"), ACCURACY,
               upstream="cifar_transfer/pretext", pretrain_keys=("data", "model", "pretext")),
    # speech
    Experiment("denoise", "speech_denoise", ("model", "train"), SNR),
    Experiment("lstm_ibm", "speech_features", ("scheme", "model", "train"), SNR),
    Experiment("siamese", "speech_features", ("model", "eval", "train"), ("test_pair_accuracy", "test_eer")),
    Experiment("continuation", "speech_denoise", ("clip", "model", "train"), SNR),
    Experiment("frame_phoneme", "speech_alignment", ("split", "model", "baseline", "train"),
               ("unseen_frame_accuracy", "seen_frame_accuracy", "baseline_unseen_frame_accuracy"),
               summary_keys=("split", "variants")),
    Experiment("ctc_phoneme", "speech_sequences", ("model", "specaugment", "eval", "train"),
               ("test_per", "test_mean_edit_distance", "beam_minus_greedy_per"),
               curves=("train_loss", "val_loss", "val_per")),
    # generative models on MNIST, read by the judge CNN
    Experiment("mnist_judge", "mnist", ("data", "model", "train", "augment"), ACCURACY),
    Experiment("vae_sevens", "mnist", ("data", "digits", "model", "train", "traverse"),
               ("test_neg_elbo", "rotation_angle_change_deg"), upstream="mnist_judge/default"),
    Experiment("pixel_rnn", "mnist", ("data", "model", "train", "eval"),
               ("completion_judge_accuracy", "completion_mse"), upstream="mnist_judge/default",
               curves=("train_loss", "val_loss", "val_teacher_forced_mse", "val_completion_mse")),
    Experiment("gan_impute", "mnist", ("data", "mask", "model", "gain", "train", "eval", "baselines"),
               ("gain_rmse", "mean_rmse", "knn_rmse", "iterative_rmse", "gain_judge_accuracy"),
               upstream="mnist_judge/default", curves=("d_loss", "g_adversarial", "val_rmse")),
    Experiment("cgan_label", "mnist", ("data", "model", "train", "eval"), ("judge_accuracy", "frechet"),
               upstream="mnist_judge/default", curves=("judge_accuracy", "d_loss", "g_loss")),
    Experiment("cgan_center", "mnist", ("data", "patch", "model", "reconstruction", "train", "eval"),
               ("centre_mse", "judge_accuracy", "frechet"), upstream="mnist_judge/default",
               curves=("centre_mse", "d_loss", "g_adversarial")),
    # the numpy library, trained beside torch twins
    Experiment("mytorch", "mnist", ("data", "model", "train"),
               ("test_accuracy_mytorch", "test_accuracy_torch", "max_weight_difference"),
               curves=("train_loss_mytorch", "train_loss_torch"), curve_x="step"),
    # faces: one ResNet per seed classifies across a lighting split and verifies unseen people
    Experiment("face_recognition", "faces", ("split", "model", "augment", "relight", "baselines", "train"),
               ("test_accuracy", "verify_auc"), curves=("train_loss", "val_loss", "val_accuracy")),
)

DATASET = {d.name: d for d in DATASETS}
EXPERIMENT = {e.section: e for e in EXPERIMENTS}
SECTIONS = (*SHARED_SECTIONS, *DATASET, *EXPERIMENT)  # every params section, all required
REPORT_SOURCES = ("reports/reference.csv",)  # what the report reads besides summaries and templates
REPORT_FILES = ("report/style.css",)  # package files the report reads besides modules


def experiment(name: str) -> Experiment:
    """An experiment by its CLI name (dashes) or section (underscores)."""
    return EXPERIMENT[name.replace("-", "_")]


# ---- stages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One stage, or one per variant when `variants` names the section whose variants it runs.

    cmd, deps, outs, metrics and log may contain `{variant}` and `{profile}`; params maps a
    params file to the keys of it that the stage tracks (none: the whole file, a dependency too).
    `collects` names a section whose every variant's outputs the stage reads: DVC sees them as the
    folder results/<section>/variants (so a variant added to params needs no new dvc.yaml),
    Snakemake as the list of files.
    """

    name: str
    cmd: str
    deps: tuple[str, ...]
    outs: tuple[str, ...]
    params: dict[str, tuple[str, ...]]
    log: str
    # Source files (relative to the project) of every module the command imports; none for a code
    # fingerprint, whose dependencies are the files it fingerprints.
    code: tuple[str, ...]
    variants: str | None = None
    collects: str | None = None
    metrics: tuple[str, ...] = ()
    threads: str = "one"  # one core, "torch" (runtime.threads) or "report" (report.workers)
    persist: bool = False  # DVC keeps the outputs while the command runs (it writes them atomically)
    cache: bool = True  # DVC stores the outputs in its cache (not for what the sources re-derive)
    # Its deps are the project's own source and params files, and their content, not a time stamp,
    # decides whether it runs (Snakemake: common.smk): the code fingerprints and the inputs stage.
    runs_on_content: bool = False
    # Outputs Snakemake's own report (`snakemake --report`) shows, each as "metrics" (a file),
    # "figures" (a folder's PNGs) or "html" (a folder shown from its index.html), under category.
    shown: dict[str, str] = field(default_factory=dict)
    category: str = ""

    def all_outs(self) -> tuple[str, ...]:
        return (*self.outs, *self.metrics)


def variant_folder(section: str, variant: str) -> str:
    return f"results/{section}/variants/{variant}"


def _outputs(folder: str) -> dict[str, str]:
    return {"runs": f"{folder}/runs", "metrics": f"{folder}/metrics.json", "provenance": f"{folder}/provenance.json"}


def upstream_folder(upstream: str) -> str:
    """The folder of "<section>/<variant>" (a pretext stage's folder sits beside the variants')."""
    return variant_folder(*upstream.split("/"))


def _command(*words: str) -> str:
    return " ".join(w for w in words if w)


def _common(log: str) -> str:
    return f"--params {PARAMS} --profile {{profile}} --log {log}"


def _tracked(section: str, keys: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {PARAMS: EVERY_STAGE, params_file(section): tuple(f"{section}.{k}" for k in keys)}


def dataset_stage(d: Dataset) -> Stage:
    log = f"logs/data_{d.name}.log"
    source = f"data/{d.needs}" if d.needs else ""
    return Stage(
        name=f"data_{d.name}",
        cmd=_command("dlrepro data", d.name, f"--data {source}" if source else "", f"--out data/{d.name}",
                     _common(log)),
        deps=(source,) if source else (),
        outs=(f"data/{d.name}",),
        params={PARAMS: EVERY_STAGE, params_file(d.name): (d.name,)},
        log=log,
        code=(*module_files("data", d.module), *(f"src/dlrepro/{f}" for f in d.files)),
    )


def _training(e: Experiment, kind: str, folder: str, keys: tuple[str, ...], log: str, *,
              upstream: str | None = None, variants: str | None = None) -> Stage:
    out = _outputs(folder)
    upstream_dir = upstream_folder(upstream) if upstream else ""
    return Stage(
        name=f"{kind}_{e.section}",
        cmd=_command(f"dlrepro {kind}", e.name, "--variant {variant}" if variants else "", f"--data data/{e.data}",
                     f"--upstream {upstream_dir}" if upstream else "", f"--runs {out['runs']}",
                     f"--metrics {out['metrics']}", f"--provenance {out['provenance']}", _common(log)),
        deps=(f"data/{e.data}", *(_outputs(upstream_dir).values() if upstream else ())),
        outs=(out["runs"], out["provenance"]),
        metrics=(out["metrics"],),
        params=_tracked(e.section, (*keys, *(["variants.{variant}"] if variants else []), "profiles")),
        log=log,
        code=module_files(kind, e.module),
        variants=variants,
        threads="torch",
        shown={out["metrics"]: "metrics"},
        category=e.section,
    )


def experiment_stages(e: Experiment) -> list[Stage]:
    """pretrain (where declared), train@variant, summarize."""
    stages = []
    if e.pretrain_keys:
        stages.append(_training(e, "pretrain", variant_folder(e.section, "pretext"), e.pretrain_keys,
                                f"logs/pretrain_{e.section}.log"))
    stages.append(_training(e, "train", variant_folder(e.section, "{variant}"), e.keys,
                            f"logs/train_{e.section}/{{variant}}.log", upstream=e.upstream, variants=e.section))
    log, summary = f"logs/summarize_{e.section}.log", f"results/{e.section}/summary"
    upstream_dir = upstream_folder(e.upstream) if e.upstream else ""
    stages.append(Stage(
        name=f"summarize_{e.section}",
        cmd=_command("dlrepro summarize", e.name, f"--data data/{e.data}",
                     f"--upstream {upstream_dir}" if e.upstream else "", f"--results results/{e.section}/variants",
                     f"--out {summary}", _common(log)),
        deps=(f"data/{e.data}", *(_outputs(upstream_dir).values() if e.upstream else ())),
        collects=e.section,
        outs=(summary,),
        params=_tracked(e.section, (*e.summary_keys, "profiles")),
        log=log,
        code=module_files("summarize", e.module),
        threads="torch",
        shown={summary: "figures"},
        category=e.section,
    ))
    return stages


def report_stage() -> Stage:
    log = "logs/report.log"
    templates = tuple(f"reports/templates/{p}.ipynb" for p in ("index", *EXPERIMENT))
    return Stage(
        name="report",
        cmd=_command("dlrepro report --results results --reference reports/reference.csv --templates reports/templates",
                     "--out reports/html --notebooks reports/notebooks --cache reports/.page-cache", _common(log)),
        deps=(*(f"results/{e.section}/summary" for e in EXPERIMENTS), *REPORT_SOURCES, *templates),
        outs=("reports/html", "reports/notebooks"),
        params={PARAMS: (*EVERY_STAGE, "report")},
        log=log,
        code=tuple(sorted(set(module_files("report", "dlrepro.report.render")) | notebook_code(templates)
                          | {f"src/dlrepro/{f}" for f in REPORT_FILES})),
        threads="report",
        shown={"reports/html": "html"},
        category="report",
    )


SCHEMA = "workflow/schemas/params.schema.yaml"
INPUTS_STAGE = "inputs"
INPUTS_DIR = "results/inputs"


def inputs_file(stage: Stage, folder: str = INPUTS_DIR) -> str:
    """Where the inputs stage writes what `stage` runs with (a template over the variant)."""
    return f"{folder}/{stage.name}/{{variant}}.json" if stage.variants else f"{folder}/{stage.name}.json"


def tracked_values(stage: Stage, params: dict, variant: str | None = None) -> dict[str, dict]:
    """The values of the params keys a stage tracks, per params file, keyed by dotted path.

    params: every file's sections merged (config.load_params), with `profile` the active one.
    """
    def value(key: str):
        node = params
        for part in key.split("."):
            node = node[part]
        return node

    return {file: {k.format(variant=variant): value(k.format(variant=variant)) for k in keys}
            for file, keys in stage.params.items()}


def stage_inputs(stage: Stage, params: dict, variant: str | None = None) -> dict:
    """Everything a stage's result depends on besides its data: its params values and the hash of
    every source file it runs. The inputs stage writes it for each stage; DVC's stages depend on it."""
    return {"params": tracked_values(stage, params, variant), "code": {f: source_hash(f) for f in stage.code}}


def inputs_stage(work: tuple[Stage, ...]) -> Stage:
    """Validates every params file, then writes each stage's inputs (stage_inputs) to INPUTS_DIR.

    It runs first in DVC: a typo stops `dvc repro` before any stage deletes an output, and the old
    inputs stay (it writes them atomically). Each DVC stage depends on its own inputs file, not on
    params keys and source files: DVC re-reads a stage's params files and re-checks its sources for
    every stage at every `dvc status`, so this stage reads each of them once, and an edit still
    re-runs exactly the stages whose inputs file changed (DVC re-checks a stage after the stages
    above it ran). Snakemake runs it too (nothing of Snakemake's waits for it), so that DVC's record
    is current after a Snakemake run.
    """
    log = "logs/inputs.log"
    files = sorted({params_file(s) for s in SECTIONS})
    own = module_files("inputs", "dlrepro.config")
    sources = sorted({f for s in work for f in s.code} | set(own))
    return Stage(
        name=INPUTS_STAGE,
        cmd=_command(f"dlrepro inputs --out {INPUTS_DIR}", _common(log)),
        # The registry is no stage's code (NOT_CODE) but says what each inputs file holds.
        deps=(*files, SCHEMA, _relative(PACKAGE / "registry.py"), *sources),
        outs=(INPUTS_DIR,),
        params={file: () for file in files},  # every value, for `dvc exp show` (dvc_yaml.dvc_params)
        log=log,
        code=own,
        persist=True,
        # cached, so a clone that pulls results from a DVC remote also pulls what they were made
        # with; without it DVC would see every stage's dependency deleted
        runs_on_content=True,
    )


CODE_DIR = "results/code"


def code_stage(label: str, files: tuple[str, ...]) -> Stage:
    """Snakemake's view of the sources of one or more stages: `<label>.sha256` lists each file's
    hash (`sha256sum -c` checks it), and the stages that share the sources depend on this file.

    Snakemake decides every job before it runs any, so an edit must show in each job's own inputs:
    a fingerprint job re-runs when a file's hash changes (common.smk), and the stages that read its
    output follow. DVC does not need these (inputs_stage).
    """
    log, out = f"logs/code_{label}.log", f"{CODE_DIR}/{label}.sha256"
    return Stage(name=f"code_{label}", cmd=_command("dlrepro code --out", out, "--log", log, *files),
                 deps=files, outs=(out,), params={}, log=log, code=(), cache=False, runs_on_content=True)


def _code_label(names: list[str]) -> str:
    """A stage's own name, or the section that several stages sharing sources have in common."""
    sections = {n.partition("_")[2] for n in names}
    return sections.pop() if len(names) > 1 and len(sections) == 1 else names[0]


@functools.cache
def work_stages() -> tuple[Stage, ...]:
    """The stages that make results, in a readable order: data, each family's stages, the report."""
    return (*map(dataset_stage, DATASETS), *(s for e in EXPERIMENTS for s in experiment_stages(e)), report_stage())


@functools.cache
def stages() -> tuple[Stage, ...]:
    """Snakemake's stages: the code fingerprints, the inputs, then the work stages, each depending
    on the fingerprint of its sources (its params are the job's params, common.smk)."""
    work = work_stages()
    sharing: dict[tuple[str, ...], list[str]] = {}
    for s in work:
        sharing.setdefault(s.code, []).append(s.name)
    code = {files: code_stage(_code_label(names), files) for files, names in sharing.items()}
    assert len({c.name for c in code.values()}) == len(code), "two sets of sources with one label"
    return (*code.values(), inputs_stage(work), *(replace(s, deps=(*s.deps, *code[s.code].outs)) for s in work))


@functools.cache
def dvc_stages() -> tuple[Stage, ...]:
    """DVC's stages: the inputs, then the work stages, each depending on its inputs file in place
    of its params keys and its sources (inputs_stage says why)."""
    work = work_stages()
    return (inputs_stage(work), *(replace(s, deps=(inputs_file(s), *s.deps), params={}) for s in work))


# ---- code dependencies: the modules a command imports, transitively ---------------------------

ROOT = PACKAGE.parent.parent  # the project: src/dlrepro/.. /..
ENTRY = "dlrepro.cli"
# The registry is left out of every stage's code: what in it concerns a stage (its command,
# inputs, outputs and params keys) is part of the stage's definition, which both tools track.
NOT_CODE = {"dlrepro.registry"}


def _module_path(name: str) -> Path | None:
    parts = name.split(".")[1:]
    base = PACKAGE.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _parents(name: str) -> list[str]:
    """dlrepro.a.b imports dlrepro and dlrepro.a first (their __init__.py run)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


# `from a.b import c, d` (parenthesised over lines too) and `import a.b as x, c`, at any depth: an
# import inside a function runs when it is called. A regex, as ast.walk over every module costs
# Snakemake a second at every start.
_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]*)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#]*)", re.M)


def _imported(source: str, package: str) -> set[str]:
    found = set()
    for module, names in _FROM.findall(source):
        level = len(module) - len(module.lstrip("."))
        if level:
            base = package.rsplit(".", level - 1)[0] if level > 1 else package
            module = f"{base}.{module[level:]}" if module[level:] else base
        found.add(module)
        # `from dlrepro.report import figures` imports the submodule figures
        found.update(f"{module}.{n.split()[0]}" for n in names.strip("()").replace("\n", " ").split(",") if n.strip())
    for names in _IMPORT.findall(source):
        found.update(n.split()[0] for n in names.split(",") if n.strip())
    return {m for m in found if m.split(".")[0] == "dlrepro" and _module_path(m) is not None}


@functools.cache
def _imports(name: str, top_level_only: bool = False) -> frozenset[str]:
    """dlrepro modules a module imports; top_level_only: those its import runs (no function's)."""
    path = _module_path(name)
    source = path.read_text()
    if top_level_only:
        source = "\n".join(line for line in source.splitlines() if not line.startswith((" ", "\t")))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    return frozenset(_imported(source, package))


@functools.cache
def source_hash(path: str | Path) -> str:
    """A source file's sha256: both tools re-run a stage when one of its sources' changes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def closure(*entries: str) -> list[str]:
    """Every dlrepro module the entry modules import, transitively, with their packages."""
    seen, todo = set(), list(entries)
    while todo:
        name = todo.pop()
        if name in seen or name in NOT_CODE:
            continue
        seen.add(name)
        todo.extend(_parents(name))
        # The CLI imports each stage's module when that stage runs: only its top-level imports
        # are every stage's; the stage's own module is the other entry.
        todo.extend(_imports(name, top_level_only=name == ENTRY))
    return sorted(seen)


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _command_imports(command: str) -> set[str]:
    """dlrepro modules the CLI's cmd_<command> function imports in its body (its stages only)."""
    source = (PACKAGE / "cli.py").read_text()
    body = re.search(rf"^def cmd_{command}\(.*?(?=^\S)", source, re.M | re.S)
    return _imported(body.group(0), "dlrepro") if body else set()


@functools.cache
def module_files(command: str, module: str) -> tuple[str, ...]:
    """Source files of the stages `dlrepro <command>` runs with `module`: the CLI's top level, what
    its cmd_<command> imports, the module, and everything they import in turn."""
    entries = (ENTRY, *_command_imports(command), module)
    return tuple(sorted(_relative(_module_path(m)) for m in closure(*entries)))


def notebook_code(templates: tuple[str, ...]) -> set[str]:
    """Source files the report's notebooks import (they run in their own kernels)."""
    modules = set()
    for template in templates:
        cells = json.loads((ROOT / template).read_text())["cells"]
        modules |= _imported("\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"), "dlrepro")
    return {_relative(_module_path(m)) for m in closure(*modules)}
