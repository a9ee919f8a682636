"""Notebooks as grid cells: their parameters checked and resolved, run with papermill, and what a
runs folder already holds of them.

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

from gc_tutorial.grids.grid import REPLACED_FOLDER, Cell, GridPlan, read_marker
from gc_tutorial.grids.saved import MixedResultsError
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


# --- What a runs folder already holds ----------------------------------------------------


def stop_on_other_settings(plan: GridPlan, replace: bool) -> None:
    """Before any run: name the runs made with other settings, unless replacing them."""
    others = [cell for cell in plan.cells if plan.state(cell) == "other settings"]
    if not others or replace:
        return
    described = [f"{cell.name} ({'; '.join(_changes(plan, cell))})" for cell in others[:5]]
    more = f", and {len(others) - 5} more" if len(others) > 5 else ""
    raise ValueError(
        f"{len(others)} run(s) in this runs folder were made with other settings: "
        + ", ".join(described)
        + more
        + ". Use another runs folder, or pass replace=True (--replace) to move them aside "
        f"(into {REPLACED_FOLDER}/) and run them again."
    )


def stop_on_mixing(plan: GridPlan) -> None:
    """Refuse, before any run, a runs folder holding complete runs outside this grid whose
    shared settings differ: `collect_runs` would refuse to average them with these."""
    ours = {cell.name for cell in plan.cells}
    shared = _shared_settings(plan.cells[0].marker())
    others = [
        folder.name
        for folder in sorted(plan.runs_dir.iterdir())
        if folder.name not in ours
        and (marker := read_marker(folder)) is not None
        and _shared_settings(marker) != shared
    ]
    if others:
        raise MixedResultsError(
            f"The runs folder {str(plan.runs_dir)!r} holds runs made with other shared "
            f"parameters or notebook code ({', '.join(others[:3])}"
            f"{', ...' if len(others) > 3 else ''}), which this grid does not rerun: refusing "
            "to average them together. Use another runs folder (--runs-dir)."
        )


def _shared_settings(marker: dict) -> str:
    settings = marker.get("settings", marker.get("parameters", {}))
    shared = {k: v for k, v in settings.items() if k not in SET_PER_RUN}
    code = (marker.get("notebook") or {}).get("code_sha256")
    return json.dumps([shared, code, marker.get("quick_mode")], sort_keys=True)


def _changes(plan: GridPlan, cell: Cell) -> list[str]:
    """What differs between a run on disk and the planned one, e.g. 'epochs: 1 -> 2'."""
    marker = read_marker(plan.folder(cell)) or {}
    before, after = marker.get("settings", marker.get("parameters", {})), cell.settings
    changes = [
        f"{key}: {before.get(key)!r} -> {after.get(key)!r}"
        for key in sorted((set(before) | set(after)) - {"output_dir"})
        if before.get(key) != after.get(key)
    ]
    code_before = _notebook_label(marker.get("notebook"))
    code_after = _notebook_label(cell.context["notebook"])
    if code_before != code_after:
        changes.append(f"notebook code: {code_before} -> {code_after}")
    quick_before = marker.get("quick_mode")
    if quick_before != cell.context["quick_mode"]:
        changes.append(f"quick mode: {quick_before} -> {cell.context['quick_mode']}")
    return changes or ["recorded by another version of gc_tutorial"]


def _notebook_label(fingerprint: dict | None) -> str:
    if not fingerprint:
        return "not recorded"
    return f"{fingerprint.get('name')} {fingerprint.get('code_sha256')}"
