"""Every notebook where a learner opens it: alone in an empty folder, with the package installed
from a wheel (as Colab's install cell installs it), run by papermill.

Quick mode for all six, each run twice in one kernel (as "Run All" twice); horses_or_humans at
the default image size under tensorflow-datasets' mock data (random images of the dataset's real
spec, offline), entered in an IPython start-up file so that it covers the whole kernel.
The slow tests run each notebook with all its defaults.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from gc_tutorial.files.storage import lock_file

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# What a reader should never see in an executed notebook: TensorFlow's start-up logs, warnings.
LOG_NOISE = re.compile(
    r"absl::InitializeLog|^[IWEF]\d{4} |oneDNN|cuda|cpu_feature_guard|Warning", re.M
)
KERNEL_NOTICE = re.compile(r"^\[IPKernelApp\] WARNING \| Kernel is running over TCP.*$", re.M)
MOCK_HORSES = """\
import tensorflow_datasets as tfds

_mock = tfds.testing.mock_data(num_examples={examples})
_mock.__enter__()  # every tfds.load / builder of this kernel serves random images offline
"""


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    """The package built as a wheel and installed into a folder of its own (no dependencies:
    they are this environment's), which kernels then find first on their path. Built once for
    all test processes (pytest-xdist's share the parent of their temporary folders; one
    process without xdist has its own, so never finds an older run's package)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    folder = shared / "installed"
    with lock_file(shared / "installed.lock", "the installed package", wait=True):
        if not (folder / "site" / "gc_tutorial").is_dir():
            source = folder / "source"  # a copy: building writes build/ and *.egg-info beside it
            for name in ("pyproject.toml", "README.md"):
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / name, source / name)
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / "gc_tutorial", source / "gc_tutorial", ignore=ignore)
            wheels = folder / "wheels"
            build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels)]
            subprocess.run([*build, str(source)], check=True, capture_output=True)
            [wheel] = wheels.glob("gc_tutorial-*.whl")
            install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target"]
            subprocess.run([*install, str(folder / "site"), str(wheel)], check=True)
    return folder / "site"


def alone(tmp_path: Path, notebook: Path, installed: Path, *, quick: bool, horses: int = 0):
    """Copy `notebook` into an empty folder and set the environment of a kernel that sees
    nothing of the repository; with `horses`, tfds serves that many mock images per split."""
    folder = tmp_path / "alone"
    folder.mkdir()
    shutil.copy(notebook, folder / notebook.name)
    env = {
        "PYTHONPATH": str(installed),
        "GC_TUTORIAL_QUICK": "1" if quick else "0",
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "MPLBACKEND": "Agg",
    }
    if horses:
        startup = tmp_path / "ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-mock-horses.py").write_text(MOCK_HORSES.format(examples=horses))
    return folder, env


def execute(folder: Path, name: str, env: dict, monkeypatch, **parameters) -> dict:
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # papermill's kernel inherits this process's environment
    executed = folder / f"executed-{name}"
    papermill.execute_notebook(
        str(folder / name),
        str(executed),
        parameters=parameters,
        cwd=str(folder),
        progress_bar=False,
    )
    return json.loads(executed.read_text())


def test_the_kernel_imports_the_installed_package_not_the_repository(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed)}
    code = "import gc_tutorial, gc_tutorial.grids.batch as b; print(gc_tutorial.__file__)"
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert Path(found.stdout.strip()).is_relative_to(installed), found.stderr


def twice(notebook: Path) -> nbformat.NotebookNode:
    """The notebook with all its cells again after them, as "Run All" twice in one kernel."""
    both = nbformat.read(notebook, as_version=4)
    again = [nbformat.from_dict(json.loads(json.dumps(cell))) for cell in both.cells]
    for cell in again:
        cell.id = f"{cell.id}-again"  # cell ids are unique within a notebook
        cell.metadata.pop("tags", None)  # papermill injects after the first parameters cell
    both.cells += again
    return both


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_each_notebook_runs_alone_in_quick_mode_twice_in_one_kernel(
    notebook, installed, tmp_path, monkeypatch
):
    folder, env = alone(tmp_path, notebook, installed, quick=True)
    nbformat.write(twice(notebook), folder / notebook.name)
    executed = execute(folder, notebook.name, env, monkeypatch)
    for index, cell in enumerate(executed["cells"]):
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", f"cell {index}"
            if output.get("name") == "stderr":
                text = KERNEL_NOTICE.sub("", "".join(output["text"])).strip()
                assert not LOG_NOISE.search(text), f"cell {index}: {text[:300]}"
    left = sorted(path.name for path in folder.iterdir())
    assert left == sorted([notebook.name, f"executed-{notebook.name}"])  # nothing else beside it
    if notebook.stem == "05_batch_report":  # the second run finds the first run's grid
        second = executed["cells"][len(executed["cells"]) // 2 :]
        assert "skipped (complete, same parameters)" in json.dumps(second)


def test_notebook_1_loads_horses_or_humans_at_300_px_under_mock_data(
    installed, tmp_path, monkeypatch
):
    notebook = ROOT / "notebooks" / "01_data.ipynb"
    folder, env = alone(tmp_path, notebook, installed, quick=False, horses=24)
    executed = execute(folder, notebook.name, env, monkeypatch)
    text = json.dumps(executed)
    assert "Dataset: horses_or_humans (tfds)" in text
    assert "each 300x300x3" in text


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_each_notebook_runs_alone_with_its_defaults(notebook, installed, tmp_path, monkeypatch):
    folder, env = alone(tmp_path, notebook, installed, quick=False, horses=4)
    executed = execute(folder, notebook.name, env, monkeypatch)
    if notebook.stem == "04_comparison":
        text = json.dumps(executed)
        assert "Comparing performance: horses_or_humans (tfds)" in text
        assert "10 epoch(s)" in text and "image 300px" in text
        assert "run_comparison equals the run by hand in every epoch: True" in text
        left = sorted(path.name for path in folder.iterdir())  # output_dir None saves nothing
        assert left == sorted([notebook.name, f"executed-{notebook.name}"])
