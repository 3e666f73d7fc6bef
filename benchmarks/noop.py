"""How the cost of a no-op grows with the pipeline.

Times `snakemake -n`, `dvc status` and a no-op `dvc repro` on the real DAG after a run and a
hand-off (`dvc commit --force`), then on the same DAG with every experiment's variants doubled
(each variant gets a twin with the same values and a copy of its results: about twice the
stages). Prints the median seconds of each and the ratio doubled / real. The design's aim is a
ratio near the ratio of stage counts (cost per stage), not its square (stages x params size).

    python noop.py [--project PATH] [--repeats N]

PATH is a project that has run (results present); without it, a temporary copy of this
repository runs the embedded profile first (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import yaml  # noqa: E402

from dlrepro import registry  # noqa: E402

COMMANDS = {"snakemake -n": ["snakemake", "-n", "--quiet", "all"], "dvc status": ["dvc", "status", "--quiet"],
            "dvc repro (no-op)": ["dvc", "repro"]}


def sh(project: Path, *cmd: str) -> str:
    out = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return out.stdout


def median_seconds(project: Path, cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sh(project, *cmd)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def stage_count(project: Path) -> int:
    return len(sh(project, "dvc", "stage", "list", "--name-only").split())


def measure(project: Path, repeats: int) -> dict[str, float]:
    sh(project, "dvc", "commit", "--force", "--quiet")  # hand Snakemake's results to DVC
    assert "Nothing to be done" in sh(project, "snakemake", "-n"), "the project is not up to date"
    return {name: median_seconds(project, cmd, repeats) for name, cmd in COMMANDS.items()}


def record_in_snakemake(project: Path) -> None:
    """Mark results Snakemake did not make up to date, as `make record-in-snakemake` does; the
    inputs stage runs for real too, since a twin variant needs its inputs file."""
    rules = [r for r in sh(project, "snakemake", "--list-rules").split() if r.startswith("code_") or r == "inputs"]
    sh(project, "snakemake", "--cores", "1", *rules)
    sh(project, "snakemake", "--touch", "--forceall", "--cores", "1")


def double_variants(project: Path) -> None:
    """Give every variant a twin (same values, a copy of its results), then mark all up to date."""
    for e in registry.EXPERIMENTS:
        path = project / registry.params_file(e.section)
        values = yaml.safe_load(path.read_text())
        section = values[e.section]
        for overrides in (section, *section.get("profiles", {}).values()):
            variants = overrides.get("variants", {})
            variants.update({f"{name}_twin": value for name, value in list(variants.items())})
        path.write_text(yaml.safe_dump(values, sort_keys=False))  # comments go: this is a throwaway copy
        for name in [v for v in section["variants"] if not v.endswith("_twin")]:
            folder = project / registry.variant_folder(e.section, name)
            shutil.copytree(folder, folder.with_name(f"{name}_twin"), symlinks=True)
    record_in_snakemake(project)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, help="a project that has run (default: run a temporary copy)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        source = args.project or ROOT
        shutil.copytree(source, project, symlinks=True, ignore=shutil.ignore_patterns(".venv", ".snakemake", "cache", "tmp"))
        if args.project is None:
            sh(project, "snakemake", "--cores", "all")
        else:  # Snakemake's records are not copied: mark the copied results up to date
            record_in_snakemake(project)
        real, n_real = measure(project, args.repeats), stage_count(project)
        double_variants(project)
        doubled, n_doubled = measure(project, args.repeats), stage_count(project)
    print(f"stages: {n_real} real, {n_doubled} doubled (x{n_doubled / n_real:.2f})")
    print(f"{'command':<20} {'real s':>8} {'doubled s':>10} {'ratio':>6}")
    for name in COMMANDS:
        print(f"{name:<20} {real[name]:8.2f} {doubled[name]:10.2f} {doubled[name] / real[name]:6.2f}")


if __name__ == "__main__":
    main()
