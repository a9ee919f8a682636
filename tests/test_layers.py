"""The package's import layers (pyproject.toml's import-linter contract) hold."""

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
