"""Notebook parameters: checked like the config, with a papermill hint, and quick mode.

Each notebook declares its parameters once, with type annotations, in its cell tagged
`parameters`, and calls `resolve_parameters(globals())` right after it. That reads the
annotated names and their values, refuses a name papermill injected that the notebook
does not have (papermill itself only warns), checks every value with the same checks
as `ComparisonConfig`, and in quick mode replaces `QUICK_OVERRIDES` for the parameters
still at their defaults.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection, Mapping
from types import ModuleType, SimpleNamespace

from gc_tutorial.checks import SEED_LIMIT, check_bool, check_int, check_number, check_text, fail
from gc_tutorial.config import DEFAULT_OUTPUT_DIR, ComparisonConfig, check_setting, config_defaults
from gc_tutorial.optimizers import OPTIMIZERS

QUICK_MODE_VARIABLE = "GC_TUTORIAL_QUICK"

# Knobs of the notebooks that are not comparison settings; the comparison's come from
# ComparisonConfig. Together they are every default a parameters cell may repeat.
NOTEBOOK_DEFAULTS = {
    "seed": 0,
    "output_dir": DEFAULT_OUTPUT_DIR,
    "runs_dir": "runs/grid",
    "launch_grid": False,
    "grid_optimizers": ["sgd", "rmsprop", "adam"],
    "grid_learning_rates": [1e-3, 1e-4],
    "study_dir": "../docs/study",
    # Notebook 3's demonstrations on verify's probe model
    "demo_learning_rate": 1e-3,
    "sgd_learning_rate": 0.1,
    "weight_decay": 0.1,
    "demo_steps": 20,
}
TUTORIAL_DEFAULTS = {**config_defaults(), **NOTEBOOK_DEFAULTS}

# Quick mode: real handwritten digits, offline, small and fast, yet learning well above
# chance. Applied to every parameter the caller did not pass (with papermill -p / -y).
QUICK_OVERRIDES = {
    "dataset": "digits",
    "image_size": 16,
    "batch_size": 32,
    "epochs": 3,
    "learning_rate": 1e-3,
    "seeds": [0, 1],
    "max_examples": 512,
    "augment": False,  # flips and rotations change a digit's class
    "launch_grid": True,
    "runs_dir": "runs/quick-grid",  # smoke runs never share the full tutorial's runs folder
    "grid_optimizers": ["sgd", "rmsprop"],
    "grid_learning_rates": [1e-2],
}


def quick_mode() -> bool:
    """True when the environment variable GC_TUTORIAL_QUICK is 1/true/yes."""
    value = os.environ.get(QUICK_MODE_VARIABLE, "0").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"{QUICK_MODE_VARIABLE}={value!r}: use 1 (quick mode) or 0 (full tutorial).")


class NotebookParameters(SimpleNamespace):
    """A notebook's checked parameters, as attributes, plus `quick` and `overridden`."""

    def config(self) -> ComparisonConfig:
        """The comparison config these parameters describe (fields not given: defaults)."""
        known = config_defaults()
        return ComparisonConfig(**{k: v for k, v in vars(self).items() if k in known})


def resolve_parameters(
    namespace: Mapping | None = None, /, *, passed: Collection[str] | None = None, **values
) -> NotebookParameters:
    """Check a notebook's parameters, apply quick mode, print a banner, return them.

    Args:
        namespace: a notebook's `globals()` after its parameters cell: the parameters are
            the names that cell declares with a type annotation (`epochs: int = 10`). A
            name papermill injected without a matching declaration is refused.
        passed: the names the caller set explicitly; by default those whose value differs
            from its default (papermill's values), so a default passed again is a default.
        **values: the parameters, by name, instead of a namespace.

    Raises `ValueError` naming the parameter, the value given and what is allowed,
    with a papermill example, before any work starts.
    """
    if namespace is not None:
        values = declared_parameters(namespace)
    refuse_unknown_names(
        set(values) - set(TUTORIAL_DEFAULTS), TUTORIAL_DEFAULTS, "Unknown parameter"
    )
    if passed is not None:
        refuse_unknown_names(set(passed) - set(values), values, "This notebook has no parameter")
    checked = {name: check_parameter(name, value) for name, value in values.items()}
    if passed is None:
        passed = {name for name, value in checked.items() if value != TUTORIAL_DEFAULTS[name]}
    quick = quick_mode()
    overridden = {}
    if quick:
        for name, value in QUICK_OVERRIDES.items():
            if name in checked and name not in passed and checked[name] != value:
                checked[name] = overridden[name] = value
    settings = NotebookParameters(**checked, quick=quick, overridden=overridden)
    print(describe(settings))
    return settings


# Names an IPython kernel defines before any cell runs; every other public name that is
# neither a module nor callable was set by a parameters cell (or papermill's).
KERNEL_NAMES = frozenset({"In", "Out"})


def declared_parameters(namespace: Mapping) -> dict:
    """The parameters a notebook's cell declared (annotated names), with their values.

    A public, non-callable name that is not declared (papermill's `-p epoch 5` on a
    notebook whose parameter is `epochs`) is refused with the closest declared name.
    """
    declared = {name: namespace[name] for name in namespace.get("__annotations__", {})}
    injected = {
        name
        for name, value in namespace.items()
        if not name.startswith("_")
        and name not in KERNEL_NAMES
        and name not in declared
        and not isinstance(value, ModuleType)
        and not callable(value)
    }
    refuse_unknown_names(injected, declared, "This notebook has no parameter")
    return declared


def check_parameter(name: str, value: object):
    """One parameter, checked as the config checks it, with a papermill hint on failure."""
    try:
        if name in config_defaults():
            checked = check_setting(name, value)
            return list(checked) if name == "seeds" else checked
        return NOTEBOOK_CHECKS[name](name, value)
    except ValueError as error:
        raise ValueError(f"{error} With papermill: {papermill_example(name)}") from None


def papermill_example(name: str) -> str:
    default = TUTORIAL_DEFAULTS[name]
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


def describe(settings: NotebookParameters) -> str:
    """A visible banner: quick mode or the full tutorial, and the values in force."""
    if settings.quick:
        header = (
            f"QUICK MODE ({QUICK_MODE_VARIABLE}=1): a smoke test, not results. "
            f"Overridden: {settings.overridden or 'nothing'}."
        )
    else:
        header = "Full tutorial run."
    values = ", ".join(
        f"{k}={v!r}" for k, v in vars(settings).items() if k not in ("quick", "overridden")
    )
    return f"{header}\nParameters: {values}"


def _optimizer_list(name, value):
    if not isinstance(value, list) or not value:
        fail(name, value, "a non-empty list of optimizer names")
    names = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or item.lower() not in OPTIMIZERS:
            fail(f"{name}[{index}]", item, f"a known optimizer name: {', '.join(OPTIMIZERS)}")
        names.append(item.lower())
    return names


def _learning_rate_list(name, value):
    if not isinstance(value, list) or not value:
        fail(name, value, "a non-empty list of finite numbers >= 0")
    return [check_number(name, item) for item in value]


NOTEBOOK_CHECKS = {
    "seed": lambda name, value: check_int(name, value, 0, SEED_LIMIT),
    "output_dir": check_text,
    "runs_dir": check_text,
    "launch_grid": check_bool,
    "grid_optimizers": _optimizer_list,
    "grid_learning_rates": _learning_rate_list,
    "study_dir": check_text,
    "demo_learning_rate": check_number,
    "sgd_learning_rate": check_number,
    "weight_decay": check_number,
    "demo_steps": check_int,
}
