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

DATASETS = ("mnist", "fashion_mnist", "cifar10", "speech_denoise", "speech_utterances")
FEATURES = ("speech_features",)
EXPERIMENTS = ("mnist-mlp", "fmnist-mlp-grid", "fmnist-cnn", "cifar-cnn", "cifar-augment", "cifar-transfer",
               "mlp-ablation", "mnist-linear", "training-diagnosis", "input-order", "denoise", "lstm-ibm", "siamese", "continuation")
COMPRESSIONS = ("svd-compress",)


def _section(name: str) -> str:
    return name.replace("-", "_")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: %(default)s)")
    parser.add_argument("--profile", help="profile whose overrides apply (default: the one params.yaml names)")
    parser.add_argument("--log", type=Path, help="also write the log to this file")


def _experiment_args(parser: argparse.ArgumentParser, variant_help: str | None) -> None:
    """The experiment, its --data and, unless variant_help is None, --variant."""
    parser.add_argument("experiment", choices=EXPERIMENTS)
    if variant_help is not None:
        parser.add_argument("--variant", default="default", help=f"{variant_help} (default: %(default)s)")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder written by `dlrepro data`")


def _training_outputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=Path, required=True, help="folder for per-seed models, histories and metrics")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics.json summarising the seeds")
    parser.add_argument("--provenance", type=Path, required=True, help="provenance.json (code, versions, device, time)")


def _compression_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("family", choices=COMPRESSIONS)
    parser.add_argument("--baseline-runs", type=Path, required=True, help="runs folder of the trained baseline")
    parser.add_argument("--baseline-metrics", type=Path, required=True, help="metrics.json of the trained baseline")
    _common(parser)


def cmd_data(args: argparse.Namespace, params: Params) -> None:
    module = importlib.import_module(f"dlrepro.data.{args.dataset}")
    values = params.section(args.dataset)
    meta = module.prepare(values, args.out)
    log.info("%s from %s: %s", args.dataset, meta["source"], meta["shapes"])


def cmd_features(args: argparse.Namespace, params: Params) -> None:
    module = importlib.import_module(f"dlrepro.data.{args.features}")
    meta = module.prepare(params.section(args.features), args.data, args.out)
    log.info("%s of %s: %s", args.features, meta["source"], meta["shapes"])


def _experiment(name: str):
    """The module of an experiment family: dlrepro.experiments.<name with underscores>."""
    return importlib.import_module(f"dlrepro.experiments.{_section(name)}")


def cmd_train(args: argparse.Namespace, params: Params) -> None:
    values = params.section(_section(args.experiment), args.variant)
    extra = {"pretrained": args.pretrained} if args.pretrained else {}
    module = _experiment(args.experiment)
    metrics = module.train(args.data, values, params.section("runtime"), args.runs, args.metrics,
                           args.provenance, label=f"{args.experiment}/{args.variant}", **extra)
    headline = getattr(module, "HEADLINE", "test_accuracy")  # the metric a family reports first
    acc = metrics[headline]
    log.info("%s/%s: %s %.4f (mean of %d seeds)", args.experiment, args.variant, headline.replace("_", " "),
             acc["mean"], acc["n"])


def cmd_pretrain(args: argparse.Namespace, params: Params) -> None:
    values = params.section(_section(args.experiment))
    metrics = _experiment(args.experiment).pretrain(args.data, values, params.section("runtime"), args.runs,
                                                    args.metrics, args.provenance, label=f"{args.experiment}/pretext")
    log.info("%s pretext: held-out accuracy %.4f", args.experiment, metrics["test_accuracy"]["mean"])


def cmd_summarize(args: argparse.Namespace, params: Params) -> None:
    from dlrepro.config import variants_of

    variants = variants_of(params.raw, _section(args.experiment))
    module = _experiment(args.experiment)
    table = module.summarize(args.data, args.results, variants, args.out)
    headline = getattr(module, "HEADLINE", "test_accuracy")
    log.info("%s:\n%s", args.experiment, table[["variant", headline, "low", "high"]].to_string(index=False))


def cmd_analyze(args: argparse.Namespace, params: Params) -> None:
    values = params.section(_section(args.experiment), args.variant)
    table = _experiment(args.experiment).analyze(args.data, args.runs, values, params.section("runtime"), args.out)
    log.info("layer probes:\n%s", table.to_string(index=False))


def cmd_compress(args: argparse.Namespace, params: Params) -> None:
    values = params.section(_section(args.family), args.variant)
    metrics = _experiment(args.family).compress(args.data, args.baseline_runs, args.baseline_metrics, values,
                                                params.section("runtime"), args.out,
                                                label=f"{args.family}/{args.variant}")
    log.info("%s/%s: test accuracy %.4f (int8 %.4f), %.2f%% (int8 %.2f%%) of the baseline's bytes", args.family,
             args.variant, metrics["test_accuracy"]["mean"], metrics["test_accuracy_int8"]["mean"],
             metrics["size_pct"]["mean"], metrics["size_pct_int8"]["mean"])


def cmd_summarize_compression(args: argparse.Namespace, params: Params) -> None:
    from dlrepro.config import variants_of

    section = _section(args.family)
    summary = _experiment(args.family).summarize(args.variants, variants_of(params.raw, section),
                                                 params.section(section), params.section("runtime"),
                                                 args.baseline_runs, args.baseline_metrics, args.out)
    log.info("%s", summary["statement"])


def cmd_summarize_ablation(args: argparse.Namespace, params: Params) -> None:
    from dlrepro.config import variants_of

    section = _section(args.experiment)
    effects = _experiment(args.experiment).summarize(args.results, params.section(section),
                                                     variants_of(params.raw, section), args.out)
    log.info("%s summary written to %s (%d grid factors, %d sweep points)", args.experiment, args.out,
             len(effects["grid"]), len(effects["sweeps"]))


def cmd_probe(args: argparse.Namespace, params: Params) -> None:
    from dlrepro.experiments import layer_probes

    metrics = layer_probes.probe(args.data, args.runs, args.trained, params.section("layer_probes"),
                                 params.section("runtime"), args.out)
    acc = metrics["last_layer_subset_test_accuracy"]
    log.info("layer probes: last hidden layer, %d random units: mean test accuracy %.4f",
             metrics["params"]["probe"]["units"], acc["mean"])


def cmd_check(args: argparse.Namespace, params: Params) -> None:
    """Everything a run reads is valid: written only then (main() already loaded and validated)."""
    from dlrepro.io import write_json

    write_json(args.out, params.check())
    log.info("params valid for profile %s", params.profile)


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

    p = sub.add_parser("data", help="download (or build) a dataset and store it as arrays")
    p.add_argument("dataset", choices=DATASETS)
    p.add_argument("--out", type=Path, required=True, help="folder for the arrays and meta.json")
    _common(p)
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("features", help="preprocess a dataset: mixtures, spectrograms, masks, pair lists")
    p.add_argument("features", choices=FEATURES)
    p.add_argument("--data", type=Path, required=True, help="dataset folder written by `dlrepro data`")
    p.add_argument("--out", type=Path, required=True, help="folder for the feature arrays and meta.json")
    _common(p)
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("train", help="train every seed of one experiment variant")
    _experiment_args(p, "variant to train")
    _training_outputs(p)
    p.add_argument("--pretrained", type=Path, help="runs folder of a pretraining stage whose weights a variant starts from")
    _common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("pretrain", help="train the self-supervised pretext task of an experiment, every seed")
    _experiment_args(p, None)
    _training_outputs(p)
    _common(p)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("summarize", help="table and figures over all variants of an experiment")
    _experiment_args(p, None)
    p.add_argument("--results", type=Path, required=True, help="results folder of the experiment (one folder per variant)")
    p.add_argument("--out", type=Path, required=True, help="folder for the summary table and figures")
    _common(p)
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("analyze", help="layer analysis of a trained variant: PCA, t-SNE, linear probes")
    _experiment_args(p, "variant whose models are analysed")
    p.add_argument("--runs", type=Path, required=True, help="runs folder written by `dlrepro train`")
    p.add_argument("--out", type=Path, required=True, help="folder for maps, probe table and figures")
    _common(p)
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("compress", help="compress every seed's model of a trained baseline: one variant")
    _compression_args(p)
    p.add_argument("--variant", required=True, help="compression variant (params.yaml)")
    p.add_argument("--data", type=Path, required=True, help="dataset folder written by `dlrepro data`")
    p.add_argument("--out", type=Path, required=True, help="folder for stored models, metrics and provenance")
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("summarize-compression",
                       help="gather every variant of a compression family: table, figures, claim")
    _compression_args(p)
    p.add_argument("--variants", type=Path, required=True, help="folder holding one folder per variant")
    p.add_argument("--out", type=Path, required=True, help="folder for the table, figures and the claim")
    p.set_defaults(func=cmd_summarize_compression)

    p = sub.add_parser("summarize-ablation", help="compare every variant of an ablation study: effects, table, figures")
    p.add_argument("experiment", choices=("mlp-ablation",))
    p.add_argument("--results", type=Path, required=True, help="folder holding one results folder per variant")
    p.add_argument("--out", type=Path, required=True, help="folder for the table, effects, findings and figures")
    _common(p)
    p.set_defaults(func=cmd_summarize_ablation)

    p = sub.add_parser("probe", help="the random-units probe of every layer of a trained MNIST MLP (layer-probes)")
    p.add_argument("--data", type=Path, required=True, help="dataset folder written by `dlrepro data`")
    p.add_argument("--runs", type=Path, required=True, help="runs folder of the trained variant (one model per seed)")
    p.add_argument("--trained", type=Path, required=True, help="metrics.json of that variant (how it was built)")
    p.add_argument("--out", type=Path, required=True, help="folder for accuracies, figures, metrics and provenance")
    _common(p)
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("check", help="validate every params file and resolve every section for the profile")
    p.add_argument("--out", type=Path, required=True, help="JSON file written when the params are valid")
    _common(p)
    p.set_defaults(func=cmd_check)

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
