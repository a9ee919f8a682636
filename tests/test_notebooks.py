"""The notebooks as files: pairs in sync, no outputs, one checked parameters cell, Colab.

Executing them is `pytest --nbmake notebooks/` (quick mode, see conftest.py).
"""

import ast
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import jupytext
import papermill
import pytest

from gc_tutorial.parameters import QUICK_OVERRIDES, TUTORIAL_DEFAULTS

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
COLAB = "https://colab.research.google.com/github/gc-tutorial/gc-tutorial/blob/main/notebooks/"


def test_the_five_tutorial_notebooks_are_there():
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
        assert ast.literal_eval(spec["default"]) == TUTORIAL_DEFAULTS[name], name
    checking_cell = next(c for c in cells[tagged[0] + 1 :] if c["cell_type"] == "code")
    source = "".join(checking_cell["source"])
    assert "resolve_parameters(" in source
    for name in parameters:
        assert f"{name}={name}" in source, f"{name} is not checked by resolve_parameters"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_badge_and_install_cell(notebook, monkeypatch):
    cells = json.loads(notebook.read_text())["cells"]
    title = "".join(cells[0]["source"])
    assert f"[Open in Colab]({COLAB + notebook.name})" in title
    assert not re.search(r"!\[[^\]]*\]\(https?:", title), "a remote image breaks offline: link it"
    assert COLAB + notebook.name in (ROOT / "README.md").read_text()
    install = "".join(cells[1]["source"])
    assert len(install.splitlines()) <= 6, "the Colab install cell is boilerplate: keep it short"
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(install, {})
    assert calls == [], "outside Colab the install cell must do nothing"
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(install, {})
    [(command,), options] = calls[0]
    assert command[:4] == [sys.executable, "-m", "pip", "install"] and options == {"check": True}
    assert command[-1] == "git+https://github.com/gc-tutorial/gc-tutorial"


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


def test_quick_comparison_learns_real_digits_well_above_chance(tmp_path, monkeypatch):
    monkeypatch.setenv("GC_TUTORIAL_QUICK", "1")
    results, _ = run_comparison_notebook(tmp_path)
    assert results["dataset"]["kind"] == "digits" and results["dataset"]["synthetic"] is False
    expected = {k: v for k, v in QUICK_OVERRIDES.items() if k in results["parameters"]}
    assert {k: results["parameters"][k] for k in expected} == expected
    accuracy = {row["arm"]: row["final_test_accuracy_mean"] for row in results["summary"]}
    assert set(accuracy) == {"baseline", "gc"}
    assert min(accuracy.values()) > 0.5, accuracy  # chance is 0.1 for ten digits


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
