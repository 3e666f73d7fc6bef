"""experiments/ is one floor: each module is one family and imports no other family; a training
stage imports only the libraries it uses."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

import dlrepro.experiments

EXPERIMENTS = Path(dlrepro.experiments.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` in the file names (from-imports: also module.name)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_family_imports_another():
    modules = sorted(p for p in EXPERIMENTS.glob("*.py") if p.name != "__init__.py")
    assert len(modules) >= 16
    offending = {p.name: sorted(n for n in imported_modules(p) if n.startswith("dlrepro.experiments"))
                 for p in modules}
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_check_sees_family_imports(tmp_path):
    module = tmp_path / "family.py"
    module.write_text("from dlrepro.experiments import mnist_mlp\nimport dlrepro.experiments.denoise\n"
                      "def f():\n    from dlrepro.experiments.classify import train\n")
    found = {n for n in imported_modules(module) if n.startswith("dlrepro.experiments")}
    assert found == {"dlrepro.experiments", "dlrepro.experiments.mnist_mlp", "dlrepro.experiments.denoise",
                     "dlrepro.experiments.classify", "dlrepro.experiments.classify.train"}


# Libraries a training stage must not import unless it uses them: each costs every stage's
# start-up 0.2-0.7 s (summaries draw the figures; the data stages read and resample audio).
STARTUP_HEAVY = ("matplotlib", "pandas", "scipy", "sklearn", "librosa")


def modules_loaded(code: str, cwd: Path) -> list[str]:
    """The STARTUP_HEAVY libraries a fresh interpreter has imported after running code."""
    probe = f"{code}\nimport sys\nprint(sorted(m for m in {STARTUP_HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, check=True)
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def test_a_stage_command_starts_without_plotting_or_table_libraries(tmp_path):
    families = sorted(p.stem for p in EXPERIMENTS.glob("*.py") if p.name != "__init__.py")
    assert modules_loaded("import dlrepro.cli\n" + "".join(f"import dlrepro.experiments.{f}\n" for f in families),
                          tmp_path) == []


def test_a_classifier_training_stage_runs_without_them(root, tmp_path):
    """mnist-linear, one step of one seed, through the CLI a stage runs: figures are its summary's."""
    from dlrepro.config import Params
    from dlrepro.data import mnist

    shutil.copy(root / "params.yaml", tmp_path)
    for folder in ("params", "workflow/schemas"):
        shutil.copytree(root / folder, tmp_path / folder)
    linear = tmp_path / "params" / "mnist_linear.yaml"
    params = yaml.safe_load(linear.read_text())
    params["mnist_linear"]["train"].update(steps=1, eval_every=1, seeds=[0])
    linear.write_text(yaml.safe_dump(params))
    mnist.prepare(Params(tmp_path / "params.yaml", "embedded").section("mnist"), tmp_path / "mnist")
    args = ["train", "mnist-linear", "--variant", "default", "--data", "mnist", "--runs", "runs",
            "--metrics", "metrics.json", "--provenance", "provenance.json", "--params", "params.yaml",
            "--profile", "embedded"]
    loaded = modules_loaded(f"import sys\nfrom dlrepro import cli\nsys.argv = ['dlrepro', *{args!r}]\ncli.main()",
                            tmp_path)
    assert (tmp_path / "metrics.json").is_file() and sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["seed0"]
    assert loaded == []
