"""The package's import layers (pyproject.toml's import-linter contract) hold, and each name
is imported from its one home."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_no_module_imports_a_layer_above_its_own():
    lint_imports = shutil.which("lint-imports")
    if lint_imports is None:
        pytest.skip('import-linter is not installed: pip install -e ".[dev]"')
    run = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


# What notebooks 1-4 run, with their defaults' code paths: every import of theirs, and a
# comparison kept in memory on horses_or_humans (four of tensorflow-datasets' mock images).
LESSON = """
import ast, pathlib, sys
for notebook in sorted(pathlib.Path("notebooks").glob("0[1-4]_*.py")):
    for statement in ast.parse(notebook.read_text()).body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            exec(compile(ast.Module([statement], []), str(notebook), "exec"))
import tensorflow_datasets as tfds
from gc_tutorial.comparison import run_comparison
with tfds.testing.mock_data(num_examples=4):
    run_comparison(image_size=16, epochs=1, seeds=[0], verbose=0)
print(" ".join(sorted(name for name in sys.modules if name.startswith("gc_tutorial"))))
"""


def test_the_lesson_loads_only_the_core():
    run = subprocess.run(
        [sys.executable, "-c", LESSON], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = run.stdout.split()
    assert "gc_tutorial.comparison" in loaded and "gc_tutorial.verify" in loaded
    machinery = [
        name
        for name in loaded
        if name.startswith(("gc_tutorial.files", "gc_tutorial.datasets", "gc_tutorial.grids"))
        or name in ("gc_tutorial.command_line", "gc_tutorial.experiment")
    ]
    assert machinery == []


def top_level_names(path: Path) -> set[str]:
    """The names a module defines itself: functions, classes and assignments at its top."""
    names = set()
    for statement in ast.parse(path.read_text()).body:
        if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
            names.add(statement.name)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names |= {
                node.id
                for target in targets
                for node in ast.walk(target)
                if isinstance(node, ast.Name)
            }
    return names


def module_file(module: str) -> Path | None:
    path = ROOT / module.replace(".", "/")
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_every_name_is_imported_from_its_home():
    """Each name has one home: `from gc_tutorial.x import name` names what x itself defines
    (or a submodule), never a name x imported from elsewhere. The package's top level and the
    twins (`gc_tutorial.optimizers.GCAdam`) are named by `__getattr__`, on purpose."""
    from gc_tutorial.checks import KERAS_OPTIMIZERS

    twins = {f"GC{name}" for name in KERAS_OPTIMIZERS.values()}
    folders = ("gc_tutorial", "tests", "notebooks", "benchmarks", "docs", "examples")
    elsewhere = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "_build" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom) or node.level or node.module is None:
                    continue
                home = module_file(node.module)
                if home is None or not node.module.startswith("gc_tutorial."):
                    continue
                defined = top_level_names(home)
                for alias in node.names:
                    name = alias.name
                    if name in defined or module_file(f"{node.module}.{name}"):
                        continue
                    if node.module == "gc_tutorial.optimizers" and name in twins:
                        continue
                    elsewhere.append(f"{path.relative_to(ROOT)}: {node.module}.{name}")
    assert elsewhere == []


def test_no_module_is_over_400_lines():
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in sorted((ROOT / "gc_tutorial").rglob("*.py"))
    }
    assert {path: length for path, length in lengths.items() if length > 400} == {}
