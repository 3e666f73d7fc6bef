"""The `dlrepro` command: one subcommand per pipeline stage, every path an explicit argument.

Snakemake and DVC call exactly these commands; nothing here imports either tool.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from dlrepro import registry
from dlrepro.config import Params, ParamsError
from dlrepro.data.sources import DataError

log = logging.getLogger("dlrepro")

EXPERIMENTS = tuple(e.name for e in registry.EXPERIMENTS)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: %(default)s)")
    parser.add_argument("--profile", help="profile whose overrides apply (default: the one params.yaml names)")
    parser.add_argument("--log", type=Path, help="also write the log to this file")


def _data_arg(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--data", type=Path, required=required, help="dataset folder written by `dlrepro data`")


def _upstream_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", type=Path,
                        help="folder of the stage this one starts from (its runs/, metrics.json, provenance.json)")


def _training_outputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=Path, required=True, help="folder for per-seed models, histories and metrics")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics.json: the seeds' summaries, numbers only")
    parser.add_argument("--provenance", type=Path, required=True,
                        help="provenance.json: code, versions, device, time; per-seed metrics, data, params, setting")


def cmd_data(args: argparse.Namespace, params: Params) -> None:
    module = importlib.import_module(f"dlrepro.data.{args.dataset}")
    upstream = [] if args.data is None else [args.data]  # a dataset derived from another one reads it first
    meta = module.prepare(params.section(args.dataset), *upstream, args.out)
    log.info("%s from %s: %s", args.dataset, meta["source"], meta["shapes"])


def _module(experiment: registry.Experiment):
    return importlib.import_module(experiment.module)


def _values(params: Params, experiment: registry.Experiment, keys: tuple[str, ...], variant: str | None = None) -> dict:
    """Only the keys the registry says the stage tracks: a stage reading another key fails here
    (KeyError), rather than silently depending on a value neither tool would re-run it for."""
    values = params.section(experiment.section, variant)
    return {k: values[k] for k in keys if k in values}


def cmd_train(args: argparse.Namespace, params: Params) -> None:
    from dlrepro.train.provenance import keep_headline

    e = registry.experiment(args.experiment)
    _module(e).train(args.data, _values(params, e, e.keys, args.variant), params.section("runtime"),
                     args.runs, args.metrics, args.provenance, label=f"{e.name}/{args.variant}", upstream=args.upstream)
    metrics = keep_headline(args.metrics, args.provenance, e.headline)
    headline = e.headline[0]
    log.info("%s/%s: %s %.4f (mean of %d seeds)", e.name, args.variant, headline.replace("_", " "),
             metrics[headline]["mean"], metrics[headline]["n"])


def cmd_pretrain(args: argparse.Namespace, params: Params) -> None:
    from dlrepro.train.provenance import keep_headline

    e = registry.experiment(args.experiment)
    _module(e).pretrain(args.data, _values(params, e, e.pretrain_keys), params.section("runtime"),
                        args.runs, args.metrics, args.provenance, label=f"{e.name}/pretext")
    metrics = keep_headline(args.metrics, args.provenance, ("test_accuracy",))  # the pretext's held-out accuracy
    log.info("%s pretext: held-out accuracy %.4f", e.name, metrics["test_accuracy"]["mean"])


def cmd_summarize(args: argparse.Namespace, params: Params) -> None:
    from dlrepro.config import variants_of

    e = registry.experiment(args.experiment)
    _module(e).summarize(args.data, args.results, variants_of(params.raw, e.section),
                         _values(params, e, e.summary_keys), params.section("runtime"), args.out,
                         upstream=args.upstream)
    log.info("%s: summary written to %s", e.name, args.out)


def cmd_inputs(args: argparse.Namespace, params: Params) -> None:
    """Every params file valid, then each stage's params values and source hashes in its own file
    (registry.inputs_stage). Written whole or not at all: a failed check keeps the last good ones."""
    from dlrepro.config import variants_of
    from dlrepro.io import atomic_path, write_json

    params.check()
    values = {**params.raw, "profile": params.profile}
    written = 0
    with atomic_path(args.out, directory=True) as tmp:
        for stage in registry.work_stages():
            for variant in variants_of(params.raw, stage.variants) if stage.variants else [None]:
                write_json(registry.inputs_file(stage, str(tmp)).format(variant=variant),
                           registry.stage_inputs(stage, values, variant))
                written += 1
    log.info("params valid for profile %s; inputs of %d stages written to %s", params.profile, written, args.out)


def cmd_code(args: argparse.Namespace, params: None) -> None:
    """The sources' fingerprint in sha256sum's format: Snakemake's dependency on them for the
    stages that run them (registry.code_stage)."""
    from dlrepro.io import atomic_path

    with atomic_path(args.out) as tmp:
        tmp.write_text("".join(f"{registry.source_hash(f)}  {f}\n" for f in args.files))
    log.info("%d source files fingerprinted in %s", len(args.files), args.out)


def cmd_report(args: argparse.Namespace, params: Params) -> None:
    from dlrepro.report import render

    # The report's own source files, as both tools track them, are part of every cached page's key.
    code = "".join(f"{registry.source_hash(registry.ROOT / f)}  {f}\n" for f in registry.report_stage().code)
    index = render.render_report(params.section("report"), params.profile, args.results, args.reference,
                                 args.templates, args.out, args.notebooks, cache=args.cache, code=code)
    log.info("report written: %s", index)


def cmd_readme(args: argparse.Namespace, params: Params) -> None:
    from dlrepro.report import results_tables

    block = results_tables.readme_block(args.results, args.reference, params.profile)
    results_tables.write_readme(args.readme, block)
    log.info("results tables of profile %s written to %s", params.profile, args.readme)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlrepro",
        description="Reproducible deep-learning course experiments. Each subcommand is one pipeline "
                    "stage; Snakemake (`snakemake --cores all`) and DVC (`dvc repro`) call them.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE")

    p = sub.add_parser("data", help="download, build or preprocess a dataset and store it as arrays")
    p.add_argument("dataset", choices=tuple(registry.DATASET))
    _data_arg(p, required=False)
    p.add_argument("--out", type=Path, required=True, help="folder for the arrays and meta.json")
    _common(p)
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train every seed of one experiment variant")
    p.add_argument("experiment", choices=EXPERIMENTS)
    p.add_argument("--variant", default="default", help="variant to train (default: %(default)s)")
    _data_arg(p)
    _upstream_arg(p)
    _training_outputs(p)
    _common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("pretrain", help="train the self-supervised pretext task of an experiment, every seed")
    p.add_argument("experiment", choices=tuple(e.name for e in registry.EXPERIMENTS if e.pretrain_keys))
    _data_arg(p)
    _training_outputs(p)
    _common(p)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("summarize", help="everything the experiment's report page shows, over all its variants")
    p.add_argument("experiment", choices=EXPERIMENTS)
    _data_arg(p)
    _upstream_arg(p)
    p.add_argument("--results", type=Path, required=True, help="results folder of the experiment (one folder per variant)")
    p.add_argument("--out", type=Path, required=True, help="the summary folder, the only one its report page reads")
    _common(p)
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("inputs", help="validate every params file, then write each stage's params values and "
                                      "source hashes (DVC's stages depend on them)")
    p.add_argument("--out", type=Path, required=True, help="folder written when the params are valid")
    _common(p)
    p.set_defaults(func=cmd_inputs)

    p = sub.add_parser("code", help="fingerprint source files (a sha256 per file) for the stages that run them")
    p.add_argument("files", nargs="+", type=Path, help="source files")
    p.add_argument("--out", type=Path, required=True, help="the fingerprint file (sha256sum -c checks it)")
    p.add_argument("--log", type=Path, help="also write the log to this file")
    p.set_defaults(func=cmd_code, params=None)

    p = sub.add_parser("report", help="execute the report notebooks and render them to HTML")
    p.add_argument("--results", type=Path, required=True, help="results folder of all experiments")
    p.add_argument("--reference", type=Path, required=True, help="CSV of the original results (REFERENCE.md)")
    p.add_argument("--templates", type=Path, required=True, help="folder of papermill notebook templates")
    p.add_argument("--out", type=Path, required=True, help="folder for the HTML report")
    p.add_argument("--notebooks", type=Path, required=True, help="folder for the executed notebooks")
    p.add_argument("--cache", type=Path, help="page cache: a page whose inputs are unchanged is reused from it")
    _common(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("readme", help="write the comparison with the originals, as the index shows it, into the "
                                      "README (after a real-data run: --profile real)")
    p.add_argument("--results", type=Path, default=Path("results"), help="results folder of all experiments")
    p.add_argument("--reference", type=Path, default=Path("reports/reference.csv"),
                   help="CSV of the original results (REFERENCE.md)")
    p.add_argument("--readme", type=Path, default=Path("README.md"), help="the file whose results block is rewritten")
    _common(p)
    p.set_defaults(func=cmd_readme)
    return parser


def _setup_logging(log_file: Path | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers, force=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log)
    try:
        args.func(args, Params(args.params, args.profile) if args.params else None)
    except (ParamsError, DataError, FileNotFoundError, ValueError) as exc:
        log.error("dlrepro %s failed: %s", args.command, exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
