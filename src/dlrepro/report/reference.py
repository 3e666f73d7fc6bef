"""Compare our results with the original write-ups' numbers (reports/reference.csv).

One CSV row per (REFERENCE.md id, our experiment variant): later experiments add rows, not code.
`original_measured` says what the original measured where it is not what we measure (validation
accuracy, the training signal, another dataset); the verdict then says so. Our side comes from
the experiment's summary folder only (results/<experiment>/summary/variants.json): per variant,
each metric's summary over seeds (mean_ci95), `data` (source and split sizes) and `setting`. Rows on
embedded data, or on real data that `data["comparable"]` says differ from the original's (another
corpus), are "not comparable" rather than judged.

The verdict judges our 95% interval over seeds against the band original ± tolerance (the
metric's entry in TOLERANCES): beats (the whole interval is better than the band), matches (the
whole interval lies inside it), falls short (the whole interval is worse), inconclusive (the
interval crosses an edge of the band, or there is no interval: more seeds would decide).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from dlrepro.io import read_json
from dlrepro.report.summary import VARIANTS

COLUMNS = ["id", "experiment", "variant", "metric", "higher_is_better", "original", "original_setting",
           "original_measured"]
DATA_NAMES = {"embedded": "embedded stand-in data", "download": "real data (upstream)", "local": "real data (local copy)"}


class Tolerance(NamedTuple):
    value: float  # in the metric's own unit
    text: str  # how the page states it


# How far from the original a result may be and still match it: about what separates two
# reasonable runs of the same recipe, never so wide that a real difference hides in it.
TOLERANCES = {
    "test_accuracy": Tolerance(0.005, "0.5 accuracy points"),
    "test_accuracy_mytorch": Tolerance(0.005, "0.5 accuracy points"),
    "broken_test_accuracy": Tolerance(0.005, "0.5 accuracy points"),
    "last_layer_best_subset_test_accuracy": Tolerance(0.005, "0.5 accuracy points"),
    "test_pair_accuracy": Tolerance(0.01, "1 accuracy point (400 or fewer test pairs)"),
    "test_eer": Tolerance(0.01, "1 point of equal error rate"),
    "test_snr_db": Tolerance(0.5, "0.5 dB"),
    "smallest_size_pct": Tolerance(0.5, "0.5 points of the baseline's size"),
    "test_neg_elbo": Tolerance(1.0, "1 nat per image"),
    "rotation_angle_change_deg": Tolerance(5.0, "5 degrees"),
    "gain_rmse": Tolerance(0.005, "0.005 RMSE (pixels in [0, 1])"),
    "judge_accuracy": Tolerance(0.01, "1 accuracy point of the judge CNN on generated digits"),
    "centre_mse": Tolerance(0.001, "0.001 of mean squared error on the centre patch (pixels in [0, 1])"),
    # pixel-rnn: the original's 0.1061 has no recorded scaling, so the band only needs to hold two
    # runs of one recipe (our seeds differ by under 0.001 on real MNIST); 0.005 is about 5% of it.
    "teacher_forced_mse": Tolerance(0.005, "0.005 MSE per pixel (about 5% of the original's 0.1061)"),
    "completion_judge_accuracy": Tolerance(0.01, "1 accuracy point (the claim was a range, 98–99%)"),
    "unseen_frame_accuracy": Tolerance(0.01, "1 accuracy point of frame accuracy"),
    "test_mean_edit_distance": Tolerance(0.5, "0.5 edits per utterance"),
    "verify_auc": Tolerance(0.005, "0.005 of ROC AUC"),
}

# The four verdicts, in the order the summary counts them; rows without one say why instead.
VERDICTS = ("beats", "matches", "falls short", "inconclusive")
NOT_JUDGED = ("no original number", "not comparable", "not run")


def load_reference(path: str | Path) -> pd.DataFrame:
    table = pd.read_csv(path, dtype={"original_measured": str}, keep_default_na=True)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {', '.join(missing)} (expected {', '.join(COLUMNS)})")
    unknown = sorted(set(table["metric"]) - set(TOLERANCES))
    if unknown:
        raise ValueError(f"{path}: no tolerance for metric(s) {', '.join(unknown)} "
                         "(add them to TOLERANCES in dlrepro/report/reference.py)")
    table["original_measured"] = table["original_measured"].fillna("")
    return table


def verdict(summary: dict, original: float, higher_is_better: bool, tolerance: float) -> tuple[str, str]:
    """(verdict, why): our 95% interval against the band original ± tolerance."""
    if summary["low"] is None:
        return "inconclusive", f"{summary['n']} seed: no interval"
    sign = 1 if higher_is_better else -1  # judge on a scale where higher is better
    low, high = sorted((sign * summary["low"], sign * summary["high"]))
    below, above = sign * original - tolerance, sign * original + tolerance
    if low > above:
        return "beats", "the whole interval is better than the original by more than the tolerance"
    if high < below:
        return "falls short", "the whole interval is worse than the original by more than the tolerance"
    if low >= below and high <= above:
        return "matches", "the whole interval is within the tolerance of the original"
    if low >= below:
        return "inconclusive", "matches or beats: the interval crosses the upper edge of the tolerance"
    if high <= above:
        return "inconclusive", "matches or falls short: the interval crosses the lower edge of the tolerance"
    return "inconclusive", "the interval is wider than the tolerance band on both sides"


def interval_text(summary: dict, digits: int = 4) -> str:
    """'0.9811 [0.9799, 0.9823]': the mean, then the 95% interval over seeds, on one line."""
    if summary["low"] is None:
        return f"{summary['mean']:.{digits}f} (no interval)"
    return f"{summary['mean']:.{digits}f} [{summary['low']:.{digits}f}, {summary['high']:.{digits}f}]"


def _digits(metric: str) -> int:
    return 2 if TOLERANCES[metric].value >= 0.1 else 4  # dB and percentages: 2 decimals


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
        has_original = not pd.isna(ref.original)
        row = {"id": ref.id, "experiment": ref.experiment, "variant": ref.variant, "metric": ref.metric,
               "original": f"{ref.original:g}" if has_original else "", "original setting": ref.original_setting,
               "original measured": ref.original_measured}
        if ref.variant not in summaries[ref.experiment]:
            rows.append({**row, "ours": "", "seeds": "", "data": "", "our setting": "", "verdict": "not run",
                         "why": f"no variant {ref.variant!r} in results/{ref.experiment}/summary"})
            continue
        metrics = summaries[ref.experiment][ref.variant]
        summary, data = metrics[ref.metric], metrics["data"]
        if data["source"] == "embedded":
            judged = "not comparable", "embedded stand-in data: run a real-data profile"
        elif ref.original_measured.startswith("not comparable"):  # another corpus and task: no verdict
            judged = "not comparable", ref.original_measured
        elif not has_original:
            judged = "no original number", "the original printed no number to compare with"
        else:
            judged = verdict(summary, ref.original, bool(ref.higher_is_better), TOLERANCES[ref.metric].value)
        rows.append({
            **row,
            "ours": interval_text(summary, _digits(ref.metric)),
            "seeds": summary["n"],
            "data": f"{DATA_NAMES[data['source']]}: {data['n_train']} train / {data['n_val']} val / {data['n_test']} test",
            "our setting": metrics.get("setting", ""),
            "verdict": judged[0],
            "why": judged[1],
        })
    return pd.DataFrame(rows)


def verdict_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Rows per family (experiment) and verdict, the four verdicts first, with a total row."""
    order = [v for v in (*VERDICTS, *NOT_JUDGED) if v in set(table["verdict"]) or v in VERDICTS]
    counts = pd.crosstab(table["experiment"], table["verdict"]).reindex(columns=order, fill_value=0)
    counts = counts.reindex(list(dict.fromkeys(table["experiment"])))  # reference.csv's order
    counts.loc["all families"] = counts.sum()
    counts.columns.name = None
    return counts.rename_axis("family").reset_index()


def short(text: str, limit: int = 60) -> str:
    """The first clause of a setting (up to ';'), cut at a word boundary within limit characters."""
    first = text.split(";")[0].strip()
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0].rstrip(",") + " …"


def _verdict_text(row) -> str:
    return f"{row['verdict']} (original: {row['original measured']})" if row["original measured"] else row["verdict"]


def _verdict_cell(row) -> str:
    caveat = (f'<div class="caveat">original: {html.escape(row["original measured"])}</div>'
              if row["original measured"] else "")
    return (f'<td class="verdict {row["verdict"].replace(" ", "-")}" title="{html.escape(row["why"])}">'
            f'<span>{html.escape(row["verdict"])}</span>{caveat}</td>')


def _numbers(row) -> str:
    return (f'<td>{html.escape(row["metric"])}</td><td class="number">{row["original"]}</td>'
            f'<td class="number interval">{html.escape(row["ours"])}</td><td class="number">{row["seeds"]}</td>')


NUMBER_HEADS = "<th>metric</th><th>original</th><th>ours: mean [95% interval]</th><th>seeds</th><th>verdict</th>"


def family_table_html(table: pd.DataFrame) -> str:
    """One family's rows for the index: short settings (full text on hover and on the page), the
    interval on one line, the verdict with what differs, each id linking to the family's page."""
    lines = ['<table class="comparison">',
             '<colgroup><col class="id"><col class="variant"><col class="setting"><col class="metric">'
             '<col class="original"><col class="ours"><col class="seeds"><col class="verdict"></colgroup>',
             f"<thead><tr><th>id</th><th>variant</th><th>original setting</th>{NUMBER_HEADS}</tr></thead><tbody>"]
    for _, row in table.iterrows():
        lines.append(
            f'<tr><td class="id"><a href="{row["experiment"]}.html">{html.escape(row["id"])}</a></td>'
            f'<td><code>{html.escape(row["variant"])}</code></td>'
            f'<td title="{html.escape(row["original setting"])}">{html.escape(short(row["original setting"]))}</td>'
            f"{_numbers(row)}{_verdict_cell(row)}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def page_comparison(reference: str | Path, summary_dir: str | Path) -> str:
    """A family page's comparison: each row's numbers and verdict, and under them in full the
    original's setting, ours, the data and why the verdict is what it is."""
    summary_dir = Path(summary_dir)
    table = compare(reference, summary_dir.parent.parent, summary_dir.parent.name)
    lines = ['<table class="page-comparison">',
             f"<thead><tr><th>id</th><th>variant</th>{NUMBER_HEADS}</tr></thead><tbody>"]
    for _, row in table.iterrows():
        differs = f' Differs from ours: {html.escape(row["original measured"])}.' if row["original measured"] else ""
        lines.append(f'<tr><td class="id">{html.escape(row["id"])}</td><td><code>{html.escape(row["variant"])}</code></td>'
                     f"{_numbers(row)}{_verdict_cell(row)}</tr>")
        lines.append(f'<tr class="details"><td colspan="7"><b>original</b>: {html.escape(row["original setting"])}.{differs} '
                     f'<b>ours</b>: {html.escape(row["our setting"])}. <b>data</b>: {html.escape(row["data"])}. '
                     f'<b>verdict</b>: {html.escape(row["why"])}.</td></tr>')
    lines.append("</tbody></table>")
    return "\n".join(lines)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of the frame's cells as text (| escaped)."""
    cells = [[str(c).replace("|", "\\|") for c in frame.columns]]
    cells += [[str(v).replace("|", "\\|") for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("---" for _ in frame.columns) + "|")
    return "\n".join(lines)


def family_table_markdown(table: pd.DataFrame) -> str:
    """The same rows as family_table_html, for the README."""
    shown = pd.DataFrame({
        "id": table["id"], "variant": "`" + table["variant"] + "`", "metric": table["metric"],
        "original": table["original"], "ours: mean [95% interval]": table["ours"], "seeds": table["seeds"],
        "verdict": table.apply(_verdict_text, axis=1),
    })
    return markdown_table(shown)


def tolerance_table() -> pd.DataFrame:
    return pd.DataFrame([{"metric": m, "tolerance": t.text} for m, t in TOLERANCES.items()])
