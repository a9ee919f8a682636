"""Notebooks as grid cells: their parameters checked and resolved, run with papermill.

A batch run (`gc_tutorial.batch`) executes a notebook once per grid point. This module
knows notebooks: which parameters one has and their defaults (`notebook_defaults`), what
identifies its code (`notebook_fingerprint`), and how one run executes where a worker runs
it (`execute_notebook`: the notebook's text travels with the cell, so workers need no copy).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
from pathlib import Path

from gc_tutorial.parameters import (
    QUICK_OVERRIDES,
    TUTORIAL_DEFAULTS,
    check_parameter,
    quick_mode,
    refuse_unknown_names,
)

EXECUTED_NOTEBOOK = "comparison.ipynb"
GRID_KEYS = ("optimizer", "learning_rate", "seeds")
SET_PER_RUN = (*GRID_KEYS, "output_dir")  # the notebook must have these; -p must not set them


def notebook_fingerprint(notebook: Path) -> dict:
    """The notebook's file name and a short hash of its code cells' sources."""
    import nbformat  # installed with papermill

    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except Exception as error:  # not JSON, not a notebook: the user gave the wrong file
        raise ValueError(
            f"`notebook` must be a Jupyter notebook that nbformat can read. "
            f"Received: notebook={str(notebook)!r} ({type(error).__name__})."
        ) from None
    code = [cell.source for cell in cells if cell.cell_type == "code"]
    digest = hashlib.sha256(json.dumps(code).encode()).hexdigest()[:16]
    return {"name": notebook.name, "code_sha256": digest}


def import_papermill():
    try:
        import papermill
    except ImportError:
        raise ImportError(
            "Batch runs execute notebooks with papermill: pip install 'gc-tutorial[batch]'."
        ) from None
    return papermill


def check_notebook_parameters(notebook: str | os.PathLike, parameters: dict) -> dict:
    """Refuse a notebook without the parameters each run sets, names the notebook does not
    have (with the closest real one), names the grid sets, and bad values."""
    papermill = import_papermill()
    known = papermill.inspect_notebook(str(notebook))
    missing = [name for name in SET_PER_RUN if name not in known]
    if missing:
        raise ValueError(
            f"`notebook` must have the parameters {', '.join(SET_PER_RUN)}, which each run "
            f"sets. Received: notebook={str(notebook)!r}, without {', '.join(missing)}."
        )
    refuse_unknown_names(set(parameters) - set(known), known, "The notebook has no parameter")
    clash = set(parameters) & set(SET_PER_RUN)
    if clash:
        raise ValueError(f"{sorted(clash)} are set by the grid; do not pass them as parameters.")
    # Names the package does not know belong to a notebook of your own, which checks them.
    return {
        name: check_parameter(name, value) if name in TUTORIAL_DEFAULTS else value
        for name, value in parameters.items()
    }


def notebook_defaults(notebook: Path, given: dict) -> dict:
    """Each parameter a run does not get as the notebook's parameters cell sets it (its
    value where the text is a literal), and in quick mode the quick value of the tutorial's
    notebooks: with `given`, the run's resolved settings."""
    papermill = import_papermill()
    defaults = {}
    for name, parameter in papermill.inspect_notebook(str(notebook)).items():
        try:
            defaults[name] = ast.literal_eval(parameter["default"])
        except (ValueError, SyntaxError):
            defaults[name] = parameter["default"]
    if quick_mode() and "check_parameters(globals())" in notebook.read_text():
        defaults.update({k: v for k, v in QUICK_OVERRIDES.items() if k in defaults})
    return {name: value for name, value in defaults.items() if name not in given}


def execute_notebook(
    folder: Path, source: str, name: str, parameters: dict, kernel_name, cwd: str
) -> None:
    """One run (where a worker runs it): the notebook executed with `parameters` and
    `output_dir=folder`, saved as comparison.ipynb beside what the notebook wrote."""
    papermill = import_papermill()
    folder.mkdir(parents=True)
    source_path = folder.parent / name
    source_path.write_text(source)
    partial = folder / f".partial.{EXECUTED_NOTEBOOK}"  # hidden: output_dir stays empty
    papermill.execute_notebook(
        str(source_path),
        str(partial),
        parameters={**parameters, "output_dir": str(folder)},
        kernel_name=kernel_name,
        cwd=cwd if Path(cwd).is_dir() else str(folder.parent),
        progress_bar=False,
        kernel_manager_class=quiet_kernel_manager(),
    )
    os.replace(partial, folder / EXECUTED_NOTEBOOK)


def quiet_kernel_manager() -> type:
    """A kernel manager class whose kernels' own stderr (start-up logs, TensorFlow's C++
    lines) is discarded: a run's outputs and errors reach its executed notebook, never the
    page or terminal that started the grid."""
    from jupyter_client.manager import AsyncKernelManager  # installed with papermill

    class QuietKernelManager(AsyncKernelManager):
        async def _async_pre_start_kernel(self, **kw):
            return await super()._async_pre_start_kernel(**{"stderr": subprocess.DEVNULL, **kw})

    return QuietKernelManager


def parse_value(text: str):
    """A -p value as papermill's own -p parses it (`papermill.cli._resolve_type`): exactly
    "True", "False" and "None", then whatever int() and then float() accept, else the
    string itself ("1e-1" is 0.1; "yes", "true" and "[0, 1]" stay strings)."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text
