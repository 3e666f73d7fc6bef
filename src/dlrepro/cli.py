"""The `dlrepro` command: one subcommand per pipeline stage, every path an explicit argument.

Snakemake and DVC call exactly these commands; nothing here imports either tool.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from dlrepro.config import Params, ParamsError
from dlrepro.data.sources import DataError

log = logging.getLogger("dlrepro")

DATASETS = ("mnist", "fashion_mnist", "cifar10", "speech_denoise", "speech_utterances", "speech_features")
EXPERIMENTS = ("mnist-mlp", "fmnist-mlp-grid", "fmnist-cnn", "cifar-cnn", "cifar-augment", "cifar-transfer",
               "mlp-ablation", "mnist-linear", "training-diagnosis", "input-order", "denoise", "lstm-ibm", "siamese",
               "continuation", "layer-probes", "svd-compress")


def _section(name: str) -> str:
    return name.replace("-", "_")


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


def _experiment(name: str):
    """The module of an experiment family: dlrepro.experiments.<name with underscores>."""
    return importlib.import_module(f"dlrepro.experiments.{_section(name)}")


def cmd_train(args: argparse.Namespace, params: Params) -> None:
    values = params.section(_section(args.experiment), args.variant)
    module = _experiment(args.experiment)
    metrics = module.train(args.data, values, params.section("runtime"), args.runs, args.metrics,
                           args.provenance, label=f"{args.experiment}/{args.variant}", upstream=args.upstream)
    headline = getattr(module, "HEADLINE", next(iter(metrics)))  # the metric a family reports first
    log.info("%s/%s: %s %.4f (mean of %d seeds)", args.experiment, args.variant, headline.replace("_", " "),
             metrics[headline]["mean"], metrics[headline]["n"])


def cmd_pretrain(args: argparse.Namespace, params: Params) -> None:
    values = params.section(_section(args.experiment))
    metrics = _experiment(args.experiment).pretrain(args.data, values, params.section("runtime"), args.runs,
                                                    args.metrics, args.provenance, label=f"{args.experiment}/pretext")
    log.info("%s pretext: held-out accuracy %.4f", args.experiment, metrics["test_accuracy"]["mean"])


def cmd_summarize(args: argparse.Namespace, params: Params) -> None:
    from dlrepro.config import variants_of

    section = _section(args.experiment)
    _experiment(args.experiment).summarize(args.data, args.results, variants_of(params.raw, section),
                                           params.section(section), params.section("runtime"), args.out,
                                           upstream=args.upstream)
    log.info("%s: summary written to %s", args.experiment, args.out)


def cmd_report(args: argparse.Namespace, params: Params) -> None:
    from dlrepro.report import render

    index = render.render_report(params.section("report"), params.profile, args.results, args.reference,
                                 args.templates, args.out)
    log.info("report written: %s", index)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlrepro",
        description="Reproducible deep-learning course experiments. Each subcommand is one pipeline "
                    "stage; Snakemake (`snakemake --cores all`) and DVC (`dvc repro`) call them.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE")

    p = sub.add_parser("data", help="download, build or preprocess a dataset and store it as arrays")
    p.add_argument("dataset", choices=DATASETS)
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
    p.add_argument("experiment", choices=("cifar-transfer",))
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

    p = sub.add_parser("report", help="execute the report notebooks and render them to HTML")
    p.add_argument("--results", type=Path, required=True, help="results folder of all experiments")
    p.add_argument("--reference", type=Path, required=True, help="CSV of the original results (REFERENCE.md)")
    p.add_argument("--templates", type=Path, required=True, help="folder of papermill notebook templates")
    p.add_argument("--out", type=Path, required=True, help="folder for the HTML report")
    _common(p)
    p.set_defaults(func=cmd_report)
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
        params = Params(args.params, args.profile)
        args.func(args, params)
    except (ParamsError, DataError, FileNotFoundError, ValueError) as exc:
        log.error("dlrepro %s failed: %s", args.command, exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
