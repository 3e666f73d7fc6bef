"""Compare our results with the original write-ups' numbers (reports/reference.csv).

One CSV row per (REFERENCE.md id, our experiment variant): later experiments add rows, not code.
Our side comes from the experiment's summary folder only (results/<experiment>/summary/variants.json):
per variant, each metric's summary over seeds (mean_ci95), `data` (source and split sizes) and
`setting` (one line saying how it was trained).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dlrepro.io import read_json
from dlrepro.report.summary import VARIANTS

COLUMNS = ["id", "experiment", "variant", "metric", "higher_is_better", "original", "original_setting"]
DATA_NAMES = {"embedded": "embedded stand-in data", "download": "real data (upstream)", "local": "real data (local copy)"}


def load_reference(path: str | Path) -> pd.DataFrame:
    table = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {', '.join(missing)} (expected {', '.join(COLUMNS)})")
    return table


def verdict(summary: dict, original: float, higher_is_better: bool, source: str) -> str:
    """beats / reproduces / falls short, judged by our 95% interval over seeds against the original."""
    if source == "embedded":
        return "not comparable (embedded stand-in data; run the full profile)"
    if pd.isna(original):
        return "no original number"
    low, high = summary["low"], summary["high"]
    if low is None:
        low = high = summary["mean"]
    sign = 1 if higher_is_better else -1
    if min(sign * low, sign * high) > sign * original:
        return "beats"
    if max(sign * low, sign * high) >= sign * original:
        return "reproduces"
    return "falls short"


def _interval(summary: dict) -> str:
    if summary["low"] is None:
        return f"{summary['mean']:.4f} (1 seed)"
    return f"{summary['mean']:.4f} [{summary['low']:.4f}, {summary['high']:.4f}] ({summary['n']} seeds)"


def compare(reference: str | Path, results: str | Path, experiment: str | None = None) -> pd.DataFrame:
    """One row per reference entry: the original, ours (mean and 95% interval), data, verdict."""
    table = load_reference(reference)
    if experiment is not None:
        table = table[table["experiment"] == experiment]
    rows, summaries = [], {}
    for ref in table.itertuples(index=False):
        if ref.experiment not in summaries:
            path = Path(results) / ref.experiment / "summary" / VARIANTS
            summaries[ref.experiment] = read_json(path) if path.is_file() else {}
        row = {"id": ref.id, "variant": ref.variant, "metric": ref.metric, "original": "" if pd.isna(ref.original) else f"{ref.original:g}",
               "original setting": ref.original_setting}
        if ref.variant not in summaries[ref.experiment]:
            rows.append({**row, "ours": "not run", "data": "", "our setting": "", "verdict": "not run"})
            continue
        metrics = summaries[ref.experiment][ref.variant]
        summary, data = metrics[ref.metric], metrics["data"]
        rows.append({
            **row,
            "ours": _interval(summary),
            "data": f"{DATA_NAMES[data['source']]}: {data['n_train']} train / {data['n_val']} val / {data['n_test']} test",
            "our setting": metrics.get("setting", ""),
            "verdict": verdict(summary, ref.original, bool(ref.higher_is_better), data["source"]),
        })
    return pd.DataFrame(rows)
