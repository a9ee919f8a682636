"""Notebook parameters: plain variables in one papermill cell, checked, and quick mode.

A notebook declares its parameters as annotated plain variables in its cell tagged
`parameters` (`epochs: int = 10`) and calls `check_parameters(globals())` in the next cell:
every value is checked as `ComparisonConfig` checks it, a name papermill injected that the
notebook lacks is refused, and quick mode (GC_TUTORIAL_QUICK=1) gives the parameters nobody
set their quick values. Running it twice in one kernel gives the same values.
"""

from __future__ import annotations

import ast
import difflib
import os
from collections.abc import Collection, Mapping, MutableMapping
from types import SimpleNamespace
from typing import NamedTuple

from gc_tutorial._quiet_tensorflow import load_keras_quietly
from gc_tutorial.checks import SEED_LIMIT, check_bool, check_int, check_number, check_optional_text
from gc_tutorial.config import ComparisonConfig, check_setting, config_defaults

QUICK_MODE_VARIABLE = "GC_TUTORIAL_QUICK"

# The notebooks' knobs that are not comparison settings: each one's default and check.
NOTEBOOK_PARAMETERS = {
    "seed": (0, lambda name, value: check_int(name, value, 0, SEED_LIMIT)),
    "output_dir": (None, check_optional_text),
    "tensorboard_dir": (None, check_optional_text),
    "by_hand": (True, check_bool),
    # Notebook 3's demonstrations on verify's probe model
    "demo_learning_rate": (1e-3, check_number),
    "sgd_learning_rate": (0.1, check_number),
    "weight_decay": (0.1, check_number),
    "demo_steps": (20, check_int),
}
NOTEBOOK_DEFAULTS = {name: default for name, (default, _) in NOTEBOOK_PARAMETERS.items()}
NOTEBOOK_CHECKS = {name: check for name, (_, check) in NOTEBOOK_PARAMETERS.items()}
TUTORIAL_DEFAULTS = {**config_defaults(), **NOTEBOOK_DEFAULTS}

# Quick mode: real handwritten digits, offline, small and fast, yet learning well above
# chance. Given to the parameters that are still at their defaults and were not passed with
# papermill's -p or -y.
QUICK_OVERRIDES = {
    "dataset": "digits",
    "image_size": 16,
    "batch_size": 32,
    "epochs": 3,
    "learning_rate": 1e-3,
    "seeds": [0, 1],
    "max_examples": 512,
    "augment": False,  # flips and rotations change a digit's class
}


def quick_mode() -> bool:
    """True when the environment variable GC_TUTORIAL_QUICK is 1/true/yes."""
    value = os.environ.get(QUICK_MODE_VARIABLE, "0").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"{QUICK_MODE_VARIABLE}={value!r}: use 1 (quick mode) or 0 (full tutorial).")


class MoreParameters(NamedTuple):
    """The parameters of the grids' notebooks beyond the lesson's: defaults, checks
    (`check(name, value)` returns the value) and quick values (a function is called)."""

    defaults: Mapping
    checks: Mapping
    quick: Mapping


NO_MORE_PARAMETERS = MoreParameters({}, {}, {})


class NotebookParameters(SimpleNamespace):
    """A notebook's checked parameters, as attributes, plus `quick` and `changed`."""

    def config(self) -> ComparisonConfig:
        """The comparison config these parameters describe (fields not given: defaults)."""
        known = config_defaults()
        return ComparisonConfig(**{k: v for k, v in vars(self).items() if k in known})


def check_parameters(
    namespace: MutableMapping | None = None,
    /,
    *,
    passed: Collection[str] | None = None,
    more: MoreParameters = NO_MORE_PARAMETERS,
    load_keras: bool = True,
    **values,
) -> NotebookParameters:
    """Check a notebook's parameters, apply quick mode, say what is in force.

    Args:
        namespace: a notebook's `globals()` after its parameters cell, whose annotated names
            are the parameters; their checked (and quick) values are written back to it.
        passed: the names set with papermill's -p or -y, which quick mode never replaces
            (by default, those of the cell papermill injected).
        more: the parameters this notebook may declare beyond the lesson's.
        load_keras: load Keras now, quietly, for the notebook's next cells.
        **values: the parameters, by name, instead of a namespace.

    Raises `ValueError` naming the parameter, the value and what is allowed, with a
    papermill example, before any work starts.
    """
    if namespace is not None:
        values = {name: namespace[name] for name in namespace.get("__annotations__", {})}
        if passed is None:
            passed = set(papermill_parameters(namespace))
    passed = set(passed or ())
    defaults = {**TUTORIAL_DEFAULTS, **more.defaults}
    refuse_unknown_names(set(values) - set(defaults), defaults, "Unknown parameter")
    refuse_unknown_names(passed - set(values), values, "This notebook has no parameter")
    checked = {name: check_parameter(name, value, more) for name, value in values.items()}
    quick, changed = quick_mode(), {}
    quick_values = {**QUICK_OVERRIDES, **more.quick} if quick else {}
    for name, value in quick_values.items():
        if name in checked and name not in passed and checked[name] == defaults[name]:
            value = value() if callable(value) else value
            if value != checked[name]:
                changed[name] = (checked[name], value)
                checked[name] = value
    if namespace is not None:
        namespace.update(checked)  # the notebook's own variables, checked (and made quick)
    print(describe(checked, quick, changed, passed))
    if load_keras:
        load_keras_quietly()  # the notebook's next cells import Keras: its logs stay out of them
    return NotebookParameters(**checked, quick=quick, changed=changed)


def papermill_parameters(namespace: Mapping) -> dict:
    """The names and values papermill's -p and -y set in this kernel, else {}: papermill runs
    them as a cell starting "# Parameters", and IPython keeps every cell's source in `In`."""
    injected = [source for source in namespace.get("In", []) if source.startswith("# Parameters")]
    if not injected:
        return {}
    found = {}
    for statement in ast.parse(injected[-1]).body:
        if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
            found[statement.targets[0].id] = ast.literal_eval(statement.value)
    return found


def check_parameter(name: str, value: object, more: MoreParameters = NO_MORE_PARAMETERS):
    """One parameter, checked as the config checks it, with a papermill hint on failure."""
    try:
        if name in config_defaults():
            checked = check_setting(name, value)
            return list(checked) if name == "seeds" else checked
        return {**NOTEBOOK_CHECKS, **more.checks}[name](name, value)
    except ValueError as error:
        default = {**TUTORIAL_DEFAULTS, **more.defaults}[name]
        raise ValueError(f"{error} With papermill: {papermill_example(name, default)}") from None


def papermill_example(name: str, default: object) -> str:
    if isinstance(default, list):
        return f"-y '{name}: {default}'"
    return f"-p {name} {default}"


def refuse_unknown_names(unknown: set[str], known: Collection[str], what: str) -> None:
    if not unknown:
        return
    hints = []
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, list(known), n=1)
        hints.append(f"`{name}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
    raise ValueError(f"{what} {', '.join(hints)}. Known parameters: {', '.join(sorted(known))}.")


def describe(values: dict, quick: bool, changed: dict, passed: Collection[str]) -> str:
    """A visible banner: quick mode or the full tutorial, what quick mode changed, the values."""
    if quick:
        changes = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items())
        kept = f" Kept as passed: {', '.join(sorted(passed))}." if passed else ""
        header = (
            f"QUICK MODE ({QUICK_MODE_VARIABLE}=1): a smoke test, not results. "
            f"Changed: {changes or 'nothing'}.{kept}"
        )
    else:
        header = "Full tutorial run."
    return f"{header}\nParameters: {', '.join(f'{k}={v!r}' for k, v in values.items())}"
