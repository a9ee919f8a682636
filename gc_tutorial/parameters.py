"""Notebook parameters: the tutorial's defaults, quick mode, and checks papermill does not make.

papermill infers parameter types from annotations only for `--help-notebook`;
it accepts `-p epochs 1.5` without complaint. `resolve_parameters` is called
right after each notebook's parameters cell and fails with a clear message.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

from gc_tutorial.centralization import check_learning_rate, check_optimizer_name

QUICK_MODE_VARIABLE = "GC_TUTORIAL_QUICK"

# The real tutorial; every notebook's parameters cell uses these defaults
# (tests/test_notebooks.py checks it with papermill's own parameter parser).
TUTORIAL_DEFAULTS = {
    "dataset": "horses_or_humans",
    "data_dir": None,
    "image_size": 300,
    "batch_size": 128,
    "epochs": 10,
    "optimizer": "rmsprop",
    "learning_rate": 1e-4,
    "seed": 0,
    "seeds": [0, 1, 2],
    "conv_only": False,
    "augment": True,
    "max_examples": None,
    "output_dir": "results/comparison",
    "runs_dir": "runs/grid",
    "launch_grid": False,
    "grid_optimizers": ["sgd", "rmsprop", "adam"],
    "grid_learning_rates": [1e-3, 1e-4],
}

# Quick mode: offline synthetic data, small images, 2 epochs. Only parameters
# still at their tutorial default are replaced; values given with -p are kept.
QUICK_VALUES = {
    "dataset": "synthetic",
    "image_size": 32,
    "batch_size": 32,
    "epochs": 2,
    "seeds": [0, 1],
    "max_examples": 128,
    "launch_grid": True,
    "grid_optimizers": ["sgd", "rmsprop"],
    "grid_learning_rates": [1e-3],
}


def quick_mode() -> bool:
    """True when the environment variable GC_TUTORIAL_QUICK is 1/true/yes."""
    value = os.environ.get(QUICK_MODE_VARIABLE, "0").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"{QUICK_MODE_VARIABLE}={value!r}: use 1 (quick mode) or 0 (full tutorial).")


def resolve_parameters(**values) -> SimpleNamespace:
    """Check a notebook's parameters, apply quick mode, and return them as attributes.

    Raises `ValueError` naming the parameter, the value given and what is
    allowed, with a papermill example, before any work starts.
    """
    unknown = set(values) - set(TUTORIAL_DEFAULTS)
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {sorted(unknown)}; known: {sorted(TUTORIAL_DEFAULTS)}."
        )
    checked = {name: _CHECKS[name](name, value) for name, value in values.items()}
    quick = quick_mode()
    replaced = {}
    if quick:
        for name, value in checked.items():
            if name in QUICK_VALUES and value == TUTORIAL_DEFAULTS[name]:
                checked[name] = replaced[name] = QUICK_VALUES[name]
    settings = SimpleNamespace(**checked, quick=quick)
    print(describe(settings, replaced))
    return settings


def describe(settings: SimpleNamespace, replaced: dict) -> str:
    """A visible banner: quick mode or the full tutorial, and the values in force."""
    if settings.quick:
        header = (
            f"QUICK MODE ({QUICK_MODE_VARIABLE}=1): a smoke test, not results. "
            f"Replaced defaults: {replaced or 'none'}."
        )
    else:
        header = "Full tutorial run."
    values = ", ".join(f"{k}={v!r}" for k, v in vars(settings).items() if k != "quick")
    return f"{header}\nParameters: {values}"


def _fail(name: str, value: object, allowed: str, example: str) -> None:
    raise ValueError(
        f"Parameter `{name}` must be {allowed}; got {value!r} ({type(value).__name__}). "
        f"With papermill: {example}"
    )


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(name, value, "an int >= 1", f"-p {name} 10")
    return value


def _seed(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _fail(name, value, "an int >= 0", f"-p {name} 0")
    return value


def _optional_positive_int(name, value):
    return None if value is None else _positive_int(name, value)


def _bool(name, value):
    if not isinstance(value, bool):
        _fail(name, value, "True or False", f"-p {name} False")
    return value


def _text(name, value):
    if not isinstance(value, str) or not value:
        _fail(name, value, "a non-empty string", f"-p {name} synthetic")
    return value


def _optional_text(name, value):
    return None if value is None else _text(name, value)


def _learning_rate(name, value):
    try:
        return check_learning_rate(value)
    except ValueError:
        _fail(name, value, "a number >= 0", f"-p {name} 0.0001")


def _optimizer(name, value):
    try:
        return check_optimizer_name(value)
    except ValueError as error:
        raise ValueError(f"Parameter `{name}`: {error}") from None


def _seeds(name, value):
    if not isinstance(value, list) or not value or len(set(map(repr, value))) != len(value):
        _fail(name, value, "a non-empty list of distinct ints >= 0", f"-y '{name}: [0, 1]'")
    return [_seed(name, seed) for seed in value]


def _optimizer_list(name, value):
    if not isinstance(value, list) or not value:
        _fail(name, value, "a non-empty list of optimizer names", f"-y '{name}: [sgd, adam]'")
    return [_optimizer(name, item) for item in value]


def _learning_rate_list(name, value):
    if not isinstance(value, list) or not value:
        _fail(name, value, "a non-empty list of numbers >= 0", f"-y '{name}: [0.001]'")
    return [_learning_rate(name, item) for item in value]


_CHECKS = {
    "dataset": _text,
    "data_dir": _optional_text,
    "image_size": _positive_int,
    "batch_size": _positive_int,
    "epochs": _positive_int,
    "optimizer": _optimizer,
    "learning_rate": _learning_rate,
    "seed": _seed,
    "seeds": _seeds,
    "conv_only": _bool,
    "augment": _bool,
    "max_examples": _optional_positive_int,
    "output_dir": _text,
    "runs_dir": _text,
    "launch_grid": _bool,
    "grid_optimizers": _optimizer_list,
    "grid_learning_rates": _learning_rate_list,
}
