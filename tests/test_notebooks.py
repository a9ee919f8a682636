"""The notebooks as files: pairs in sync, no outputs, one checked parameters cell, Colab.

Executing them is `pytest --nbmake notebooks/` (quick mode, see conftest.py).
"""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import papermill
import pytest

from gc_tutorial.grids.parameters import GRID_DEFAULTS
from gc_tutorial.parameters import QUICK_OVERRIDES, TUTORIAL_DEFAULTS

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
COLAB = "https://colab.research.google.com/github/gc-tutorial/gc-tutorial/blob/main/notebooks/"
PACKAGE = "gc-tutorial @ git+https://github.com/gc-tutorial/gc-tutorial"
INSTALL = f'!python -c "import google.colab" 2>/dev/null && pip install -q "{PACKAGE}"'


def test_the_six_tutorial_notebooks_are_there():
    assert [n.name[:2] for n in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_pair_is_in_sync_and_has_no_outputs(notebook):
    ipynb = json.loads(notebook.read_text())
    paired = jupytext.read(notebook.with_suffix(".py"))
    assert [c["source"] for c in paired.cells] == ["".join(c["source"]) for c in ipynb["cells"]], (
        f"{notebook.name} and its .py differ: run `jupytext --sync {notebook.with_suffix('.py')}`"
    )
    for cell in ipynb["cells"]:
        assert not cell.get("outputs") and not cell.get("execution_count"), notebook.name


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_with_tutorial_defaults_all_checked(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    tagged = [i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    parameters = papermill.inspect_notebook(str(notebook))
    assert parameters, "papermill --help-notebook would list nothing"
    for name, spec in parameters.items():
        assert spec["inferred_type_name"] != "None", f"{name} has no type annotation"
        default = {**TUTORIAL_DEFAULTS, **GRID_DEFAULTS}[name]
        assert ast.literal_eval(spec["default"]) == default, name
    checking_cell = next(c for c in cells[tagged[0] + 1 :] if c["cell_type"] == "code")
    source = "".join(checking_cell["source"])
    # each name written once, read plainly; the grid notebooks' check knows their names too
    assert re.search(r"\bcheck_(grid_)?parameters\(globals\(\)\)", source)
    assert "settings." not in "".join("".join(c["source"]) for c in cells)
    for cell in cells[tagged[0] + 1 :]:
        code = "".join(cell["source"]) if cell["cell_type"] == "code" else ""
        for name in parameters:  # nothing after the parameters cell sets a knob
            assert not re.search(rf"^{name}\s*(:[^=]*)?=[^=]", code, re.M), (notebook.name, name)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_a_notebook_reads_in_a_few_screens(notebook):
    lines = notebook.with_suffix(".py").read_text().splitlines()
    assert len(lines) <= 240, f"{notebook.name}: {len(lines)} lines"


@pytest.mark.parametrize("name", ["05_batch_report", "06_study"])
def test_the_statistics_are_explained_once_in_notebook_4(name):
    text = (ROOT / "notebooks" / f"{name}.py").read_text()
    assert "](04_comparison.ipynb)" in text
    assert "2/2^n" not in text and "How to read" not in text
    assert "2/2^n" in (ROOT / "notebooks" / "04_comparison.py").read_text()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_badge_and_one_line_install_cell(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    title = "".join(cells[0]["source"])
    assert f"[Open in Colab]({COLAB + notebook.name})" in title
    assert not re.search(r"!\[[^\]]*\]\(https?:", title), "a remote image breaks offline: link it"
    assert COLAB + notebook.name in (ROOT / "README.md").read_text()
    assert "".join(cells[1]["source"]) == INSTALL


def test_the_install_line_installs_on_colab_only(tmp_path):
    fake_colab = tmp_path / "site" / "google"
    fake_colab.mkdir(parents=True)
    (fake_colab / "colab.py").write_text("")
    command = INSTALL[1:].replace("pip install -q", "echo pip install -q")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

    def run(pythonpath: str):
        env = {**os.environ, "PATH": path, "PYTHONPATH": pythonpath}
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env)

    elsewhere, on_colab = run(""), run(str(tmp_path / "site"))
    assert (elsewhere.stdout, elsewhere.stderr) == ("", "")
    assert on_colab.stdout == f"pip install -q {PACKAGE}\n"


@pytest.mark.parametrize(
    "parameters, message",
    [
        (
            {"image_size": 1.5},
            "`image_size` must be an int >= 11. Received: image_size=1.5 (float)",
        ),
        ({"image_sise": 32}, "no parameter `image_sise` (did you mean `image_size`?)"),
    ],
    ids=["wrong type", "misspelt name"],
)
def test_papermill_bad_parameter_fails_in_the_checking_cell(tmp_path, parameters, message):
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(
            str(ROOT / "notebooks" / "02_model.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters=parameters,
            progress_bar=False,
        )
    assert message in str(failure.value)


def run_comparison_notebook(tmp_path, **parameters):
    output_dir = tmp_path / "results"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "04_comparison.ipynb"),
        str(tmp_path / "comparison.ipynb"),
        parameters={**parameters, "output_dir": str(output_dir)},
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    return json.loads((output_dir / "results.json").read_text()), output_dir


@pytest.mark.slow
def test_quick_comparison_learns_real_digits_well_above_chance(tmp_path, monkeypatch):
    monkeypatch.setenv("GC_TUTORIAL_QUICK", "1")
    results, _ = run_comparison_notebook(tmp_path)
    assert results["dataset"]["kind"] == "digits" and results["dataset"]["synthetic"] is False
    expected = {k: v for k, v in QUICK_OVERRIDES.items() if k in results["parameters"]}
    assert {k: results["parameters"][k] for k in expected} == expected
    accuracy = {row["arm"]: row["final_test_accuracy_mean"] for row in results["summary"]}
    assert set(accuracy) == {"baseline", "gc"}
    assert min(accuracy.values()) > 0.5, accuracy  # chance is 0.1 for ten digits


@pytest.mark.slow
def test_papermill_parameters_are_kept_in_quick_mode_and_saved(tmp_path, monkeypatch):
    monkeypatch.setenv("GC_TUTORIAL_QUICK", "1")
    passed = dict(dataset="synthetic", image_size=32, batch_size=32, epochs=2, max_examples=64)
    results, folder = run_comparison_notebook(
        tmp_path, optimizer="adam", learning_rate=0.001, seeds=[0, 1], **passed
    )
    assert results["parameters"]["optimizer"] == "adam" and results["parameters"]["seeds"] == [0, 1]
    assert {k: results["parameters"][k] for k in passed} == passed
    assert results["dataset"]["synthetic"] is True
    assert len(results["history"]) == 2 * 2 * 2
    assert [row["arm"] for row in results["summary"]] == ["baseline", "gc"]
    for name in (
        "history.csv",
        "summary.csv",
        "paired.csv",
        "statistics.csv",
        "learning_curves.png",
    ):
        assert (folder / name).stat().st_size > 0, name


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_is_empty(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    assert all("".join(cell["source"]).strip() for cell in cells), notebook.name
