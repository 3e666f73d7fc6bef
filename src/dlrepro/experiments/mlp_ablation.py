"""REFERENCE.md mlp-grid and mlp-dropout: which choices make a deep MLP on MNIST train.

Every variant is one stage: the grid activation x initializer x optimizer, and one-factor-at-a-time
sweeps of learning rate, width, depth, dropout and BatchNorm around a baseline grid cell.
train(): every seed of one variant. summarize(): reads every variant's results and computes how
much each factor moves test accuracy (figures, table, and the sentences of the report page).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dlrepro.io import write_json
from dlrepro.models.mlp import from_section
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import fit
from dlrepro.train.provenance import read_result
from dlrepro.train.seeds import run_on_splits

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs every training stage 0.2 s to start

log = logging.getLogger(__name__)

# Factors of the study, each the values (dotted keys of the resolved params) that define it.
GRID_FACTORS = ("activation", "init", "optimizer")
SWEEP_FACTORS = ("learning rate", "width", "depth", "dropout", "batchnorm")


def factors(values: dict) -> dict:
    """The value of every factor of the study in one resolved variant."""
    m, t = values["model"], values["train"]
    return {"activation": m["activation"], "init": m["init"], "optimizer": t["optimizer"],
            "learning rate": t["lr"][t["optimizer"]], "width": m["width"], "depth": m["depth"],
            "dropout": (m["dropout_first"], m["dropout"]), "batchnorm": m["batchnorm"]}


def describe(values: dict) -> str:
    m, t = values["model"], values["train"]
    init = f"N(0, {m['init_std']:g}²)" if m["init"] == "normal" else m["init"]
    extras = [f"dropout {m['dropout_first']:g}/{m['dropout']:g}"] if m["dropout"] or m["dropout_first"] else []
    extras += ["BatchNorm"] if m["batchnorm"] else []
    return (f"{m['depth']}×{m['width']} {m['activation']}, {init} init{', ' if extras else ''}{', '.join(extras)}; "
            f"{t['optimizer']} {t['lr'][t['optimizer']]:g}, {t['lr_schedule']} schedule, {t['epochs']} epochs, "
            f"batch {t['batch_size']}; the best validation epoch is tested")


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    t = values["train"]
    lr = t["lr"][t["optimizer"]]

    def train_one(seed, generator, train_split, val_split):
        model = from_section(values["model"]).to(train_split.x.device)
        result = fit(model, train_split, val_split, epochs=t["epochs"], batch_size=t["batch_size"],
                     optimizer=t["optimizer"], lr=lr, lr_schedule=t["lr_schedule"], momentum=t["momentum"],
                     generator=generator, desc=f"{label} seed {seed}")
        model.load_state_dict(result.best_state)
        return model, result.history, {"best_epoch": result.best_epoch, "epochs": t["epochs"]}

    trained_with = {"model": values["model"], "train": t, "factors": factors(values)}
    return run_on_splits(data_dir, t, runtime, runs_dir, metrics_path, provenance_path, label,
                         train_one, trained_with=trained_with, setting=describe(values), save_models=False)


# ---------------------------------------------------------------- summary over every variant

def load_results(results_dir: Path, variants: list[str]) -> dict:
    """variant -> {metrics, factors, histories (one DataFrame per seed)}."""
    import pandas as pd

    out = {}
    for v in variants:
        metrics = read_result(results_dir / v)
        runs = results_dir / v / "runs"
        histories = [pd.read_csv(runs / f"seed{r['seed']}" / "history.csv") for r in metrics["per_seed"]]
        f = metrics["params"]["factors"]
        f["dropout"] = tuple(f["dropout"])
        out[v] = {"metrics": metrics, "factors": f, "histories": histories,
                  "test": np.array([r["test_accuracy"] for r in metrics["per_seed"]])}
    return out


def classify(results: dict, baseline: str) -> dict:
    """variant -> the factors in which it differs from the baseline (the baseline: none)."""
    if baseline not in results:
        raise ValueError(f"mlp_ablation.summary.baseline: {baseline!r} is not a variant ({', '.join(results)})")
    base = results[baseline]["factors"]
    differs = {}
    for v, r in results.items():
        f = r["factors"]
        diff = [k for k in (*GRID_FACTORS, *SWEEP_FACTORS) if f[k] != base[k]]
        # A different optimizer brings its own learning rate: that is the optimizer factor.
        if "optimizer" in diff and "learning rate" in diff:
            diff.remove("learning rate")
        differs[v] = diff
    return differs


def grid_effects(results: dict, grid: list[str]) -> list[dict]:
    """Main effect of each grid factor: mean test accuracy per level over the cells, its range, and
    the share of the variance between cells that the factor explains (eta²). Each cell counts once,
    by its mean over seeds, so that cells run with more seeds do not weigh more."""
    rows = [(results[v]["factors"], float(np.mean(results[v]["test"]))) for v in grid]
    all_acc = np.array([acc for _, acc in rows])
    total_ss = float(((all_acc - all_acc.mean()) ** 2).sum())
    effects = []
    for factor in GRID_FACTORS:
        levels = sorted({f[factor] for f, _ in rows})
        means = {lv: float(np.mean([a for f, a in rows if f[factor] == lv])) for lv in levels}
        counts = {lv: sum(f[factor] == lv for f, _ in rows) for lv in levels}
        between = sum(counts[lv] * (means[lv] - all_acc.mean()) ** 2 for lv in levels)
        effects.append({"factor": factor, "level_means": means,
                        "best": max(means, key=means.get), "worst": min(means, key=means.get),
                        "range": max(means.values()) - min(means.values()),
                        "eta2": float(between / total_ss) if total_ss > 0 else 0.0})
    return sorted(effects, key=lambda e: -e["range"])


def difference_ci95(a: np.ndarray, b: np.ndarray) -> tuple[float, float | None, float | None]:
    """Mean of a minus mean of b with a Welch 95% interval (None with fewer than two seeds each)."""
    from scipy.special import stdtrit

    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return diff, None, None
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stdtrit(dof, 0.975) * se)
    return diff, diff - half, diff + half


def sweep_effects(results: dict, differs: dict, baseline: str) -> list[dict]:
    base = results[baseline]["test"]
    rows = []
    for v, diff in differs.items():
        if not diff or set(diff) <= set(GRID_FACTORS):
            continue
        delta, low, high = difference_ci95(results[v]["test"], base)
        rows.append({"variant": v, "factors": "+".join(diff), "value": ", ".join(
            f"{k} {_fmt(results[v]['factors'][k])}" for k in diff), "delta": delta, "low": low, "high": high,
            "significant": low is not None and (low > 0 or high < 0)})
    return rows


def _fmt(value) -> str:
    if isinstance(value, bool):  # a switch reads "batchnorm on", not "batchnorm True"
        return "on" if value else "off"
    if isinstance(value, tuple):
        return "/".join(f"{x:g}" for x in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def findings(effects: list[dict], sweeps: list[dict], results: dict, baseline: str) -> str:
    """The report's sentences, written from the numbers."""
    base = results[baseline]["test"]
    lines = [f"Baseline `{baseline}`: test accuracy {base.mean():.4f} over {len(base)} seeds.", "",
             "**Grid (main effects: each cell its mean over seeds, averaged over the other two factors):**"]
    for e in effects:
        means = ", ".join(f"{lv} {m:.3f}" for lv, m in sorted(e["level_means"].items(), key=lambda kv: -kv[1]))
        lines.append(f"- {e['factor']}: {e['range'] * 100:.1f} points between {e['best']} and {e['worst']} "
                     f"({means}); it explains {e['eta2'] * 100:.0f}% of the variance between grid cells.")
    ranked = [e["factor"] for e in effects]
    lines += ["", f"The grid factor that matters most is **{ranked[0]}**, then {ranked[1]}, then {ranked[2]}."]
    cells = {v: r["test"].mean() for v, r in results.items()}
    if sweeps:
        lines += ["", "**Sweeps around the baseline (change in test accuracy, Welch 95% interval):**"]
        for s in sorted(sweeps, key=lambda s: -abs(s["delta"])):
            interval = f" [{s['low'] * 100:+.1f}, {s['high'] * 100:+.1f}]" if s["low"] is not None else ""
            if s["low"] is None:  # one seed on a side: there is no spread to judge the change against
                n = min(len(results[s["variant"]]["test"]), len(base))
                verdict = f"undecided ({n} seed{'s' if n > 1 else ''}: no interval)"
            else:
                verdict = "an effect beyond seed noise" if s["significant"] else "within seed noise"
            lines.append(f"- {s['value']} (`{s['variant']}`): {s['delta'] * 100:+.1f} points{interval}, {verdict}.")
    best = max(cells, key=cells.get)
    lines += ["", f"Best variant overall: `{best}` ({cells[best]:.4f})."]
    return "\n".join(lines)


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> pd.DataFrame:
    import pandas as pd

    from dlrepro.report import figures

    validation = [figures.Panel("val_accuracy", "validation accuracy", ylim=(0, 1)),
                  figures.Panel("val_loss", "validation cross-entropy", log=True)]
    results_dir = Path(results_dir)
    results = load_results(results_dir, variants)
    baseline = values["summary"]["baseline"]
    differs = classify(results, baseline)
    grid = [v for v, d in differs.items() if set(d) <= set(GRID_FACTORS)]
    effects = grid_effects(results, grid)
    sweeps = sweep_effects(results, differs, baseline)
    table = pd.DataFrame([{
        "variant": v, "kind": "grid" if v in grid else "sweep",
        "differs from baseline": "+".join(differs[v]) or "(baseline)",
        **{k: _fmt(results[v]["factors"][k]) for k in (*GRID_FACTORS, *SWEEP_FACTORS)},
        "test mean": r["metrics"]["test_accuracy"]["mean"], "test low": r["metrics"]["test_accuracy"]["low"],
        "test high": r["metrics"]["test_accuracy"]["high"], "val mean": r["metrics"]["val_accuracy"]["mean"],
        "seeds": r["metrics"]["test_accuracy"]["n"]} for v, r in results.items()])
    with summary_folder(out_dir, results_dir, variants) as tmp:
        table.to_csv(tmp / "table.csv", index=False, float_format="%.6f")
        write_json(tmp / "effects.json", {"baseline": baseline, "grid": effects, "sweeps": sweeps})
        (tmp / "findings.md").write_text(findings(effects, sweeps, results, baseline) + "\n")
        levels = {f: sorted({results[v]["factors"][f] for v in grid}) for f in GRID_FACTORS}
        cube = np.full([len(levels[f]) for f in GRID_FACTORS], np.nan)
        for v in grid:
            f = results[v]["factors"]
            cube[tuple(levels[k].index(f[k]) for k in GRID_FACTORS)] = results[v]["test"].mean()
        figures.grid_heatmap(cube, [levels[f] for f in GRID_FACTORS], list(GRID_FACTORS), tmp / "grid_heatmap.png",
                             "mean test accuracy over seeds")
        for factor in GRID_FACTORS:
            groups = {}
            for v in grid:
                groups.setdefault(str(results[v]["factors"][factor]), []).extend(results[v]["histories"])
            figures.history_panels(groups, validation, tmp / f"curves_{factor}.png",
                                   f"{factor}: every grid cell (thin) and the mean per level (thick)", columns=2)
        for factor in sorted({"+".join(d) for d in differs.values() if d and not set(d) <= set(GRID_FACTORS)}):
            members = [baseline] + [v for v, d in differs.items() if "+".join(d) == factor]
            groups = {f"{v} ({', '.join(_fmt(results[v]['factors'][k]) for k in factor.split('+'))})":
                      results[v]["histories"] for v in members}
            figures.history_panels(groups, validation, tmp / f"curves_{factor.replace(' ', '_')}.png",
                                   f"{factor}: baseline and sweep points (thin: seeds)", columns=2)
    log.info("mlp ablation: %s", "; ".join(f"{e['factor']} {e['range']:.3f}" for e in effects))
    return table
