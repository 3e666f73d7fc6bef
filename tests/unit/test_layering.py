"""experiments/ is one floor: each module is one family and imports no other family."""

from __future__ import annotations

import ast
from pathlib import Path

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
