"""The grid notebooks' own parameters (05_batch_report, 06_study), checked like the lesson's.

Their parameters cell is followed by `check_grid_parameters(globals())`: the lesson's
`check_parameters`, knowing these names too. In quick mode a notebook that runs a grid writes
its runs into a temporary folder, made once per kernel, so that a smoke test leaves nothing
beside the notebook and a re-run finds what the first run wrote.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import MutableMapping

from gc_tutorial.checks import (
    KERAS_OPTIMIZERS,
    check_bool,
    check_number,
    check_optional_text,
    check_text,
    fail,
)
from gc_tutorial.parameters import MoreParameters, NotebookParameters, check_parameters

GRID_DEFAULTS = {
    "runs_dir": "runs/grid",
    "launch_grid": False,
    "grid_optimizers": ["sgd", "rmsprop", "adam"],
    "grid_learning_rates": [1e-3, 1e-4],
    "study_dir": None,
}
_quick_runs_dir: list[str] = []  # this kernel's, once made


def quick_runs_dir() -> str:
    """The temporary runs folder of quick mode, made on first use (again if deleted)."""
    if not _quick_runs_dir or not os.path.isdir(_quick_runs_dir[0]):
        _quick_runs_dir[:] = [tempfile.mkdtemp(prefix="gc-tutorial-quick-runs_dir-")]
    return _quick_runs_dir[0]


def optimizer_list(name: str, value: object) -> list[str]:
    """A non-empty list of Keras optimizer names, lower-cased."""
    if not isinstance(value, list) or not value:
        fail(name, value, "a non-empty list of optimizer names")
    for index, item in enumerate(value):
        if not isinstance(item, str) or item.lower() not in KERAS_OPTIMIZERS:
            fail(f"{name}[{index}]", item, f"a known optimizer name: {', '.join(KERAS_OPTIMIZERS)}")
    return [item.lower() for item in value]


def learning_rate_list(name: str, value: object) -> list[float]:
    """A non-empty list of finite numbers >= 0, as floats."""
    if not isinstance(value, list) or not value:
        fail(name, value, "a non-empty list of finite numbers >= 0")
    return [check_number(name, item) for item in value]


GRID_PARAMETERS = MoreParameters(
    defaults=GRID_DEFAULTS,
    checks={
        "runs_dir": check_text,
        "launch_grid": check_bool,
        "grid_optimizers": optimizer_list,
        "grid_learning_rates": learning_rate_list,
        "study_dir": check_optional_text,
    },
    quick={
        "runs_dir": quick_runs_dir,
        "launch_grid": True,
        "grid_optimizers": ["rmsprop"],
        "grid_learning_rates": [1e-2],
    },
)


def check_grid_parameters(
    namespace: MutableMapping | None = None, /, **options
) -> NotebookParameters:
    """`check_parameters` for a grid notebook: its parameters and the lesson's. Keras is not
    loaded: the modules that need it load it quietly themselves."""
    return check_parameters(namespace, more=GRID_PARAMETERS, load_keras=False, **options)
