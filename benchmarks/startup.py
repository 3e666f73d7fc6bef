"""A training stage's fixed cost: `dlrepro train mnist-linear` on the embedded data, shortened to one
step of one seed (so nearly all of its time is start-up: interpreter, imports, params validation,
data loading, writing the results), divided by `python -c "import torch"`, the floor any torch
stage pays. The two commands alternate, each run --repeats times; medians are printed.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from common import parse_args

ROOT = Path(__file__).resolve().parents[1]


def seconds(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    args = parse_args(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(ROOT / "params.yaml", work / "params.yaml")
        shutil.copytree(ROOT / "params", work / "params")
        shutil.copytree(ROOT / "workflow" / "schemas", work / "workflow" / "schemas")
        linear_file = work / "params" / "mnist_linear.yaml"
        linear = yaml.safe_load(linear_file.read_text())
        linear["mnist_linear"]["train"].update(steps=1, eval_every=1, seeds=[0])
        linear_file.write_text(yaml.safe_dump(linear))
        common = ["--params", "params.yaml", "--profile", "embedded"]
        subprocess.run(["dlrepro", "data", "mnist", "--out", "data/mnist", *common], cwd=work, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = work / "results"
        stage = ["dlrepro", "train", "mnist-linear", "--variant", "default", "--data", "data/mnist",
                 "--runs", "results/runs", "--metrics", "results/metrics.json",
                 "--provenance", "results/provenance.json", *common]
        floor = [sys.executable, "-c", "import torch"]
        stage_s, floor_s = [], []
        for _ in range(args.repeats + 1):  # the first pair warms the file cache and is dropped
            shutil.rmtree(out, ignore_errors=True)
            stage_s.append(seconds(stage, work))
            floor_s.append(seconds(floor, work))
        stage_s, floor_s = stage_s[1:], floor_s[1:]
    print(f"median of {args.repeats}: one-step training stage {statistics.median(stage_s):.2f} s "
          f"({min(stage_s):.2f}-{max(stage_s):.2f}), `import torch` {statistics.median(floor_s):.2f} s "
          f"({min(floor_s):.2f}-{max(floor_s):.2f}); ratio {statistics.median(stage_s) / statistics.median(floor_s):.2f}")


if __name__ == "__main__":
    main()
