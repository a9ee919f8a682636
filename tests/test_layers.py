"""The package's import layers (pyproject.toml's import-linter contract) hold."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_no_module_imports_a_layer_above_its_own():
    lint_imports = shutil.which("lint-imports")
    if lint_imports is None:
        pytest.skip('import-linter is not installed: pip install -e ".[dev]"')
    run = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
