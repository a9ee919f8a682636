"""Argument checks shared by every module, in Keras's message style.

Each check returns the (normalized) value or raises `ValueError` saying what is allowed and
what was received: "`epochs` must be an int >= 1. Received: epochs=1.5 (float)".
"""

from __future__ import annotations

import importlib.metadata
import math
import numbers
import re
from collections.abc import Sequence
from typing import NoReturn

DIGITS, SYNTHETIC = "digits", "synthetic"  # the two datasets made offline, by name
# numpy's default generator takes seeds below 2**32 in keras.utils.set_random_seed.
SEED_LIMIT = 2**32
# The example's CNN reads at least 11x11 pixels: five 3x3 'valid' convolutions (`model.py`).
SMALLEST_IMAGE_SIZE = 11
CENTRALIZE_MODES = ("gradient", "update")  # what a GC optimizer centralizes
# Every built-in Keras optimizer's class name, by its lower-cased name ("rmsprop": "RMSprop").
KERAS_OPTIMIZERS = {
    name.lower(): name
    for name in (
        "Adadelta Adafactor Adagrad Adam AdamW Adamax Ftrl Lamb Lion Muon Nadam RMSprop SGD "
        "ScheduleFreeAdamW"
    ).split()
}
# The optimizers that need a newer Keras than the oldest this package supports (3.10): Keras
# added ScheduleFreeAdamW in 3.14, and its Muon trains TensorFlow variables from 3.13 on.
NEEDS_KERAS = {"muon": (3, 13), "schedulefreeadamw": (3, 14)}


class DatasetUnavailableError(OSError):
    """A tensorflow-datasets dataset is not prepared locally and cannot be downloaded."""


def fail(name: str, value: object, allowed: str) -> NoReturn:
    """Raise the package's one kind of argument error."""
    raise ValueError(
        f"`{name}` must be {allowed}. Received: {name}={value!r} ({type(value).__name__})."
    )


def check_digits_not_augmented(
    augment: object, dataset: object, what: str = "dataset", hint: str = ""
) -> None:
    """Digits are never augmented: a flip or a rotation changes a digit's class."""
    if dataset == DIGITS and augment:
        fail(
            "augment",
            augment,
            f"False for {what} 'digits' (a flip or a rotation changes a digit's class: a 6 "
            f"becomes a 9){hint}",
        )


def check_bool(name: str, value: object) -> bool:
    """`value` if it is True or False."""
    if not isinstance(value, bool):
        fail(name, value, "True or False")
    return value


def check_int(name: str, value: object, minimum: int = 1, limit: int | None = None) -> int:
    """`value` as a Python int if it is an integer (numpy ones too, not bool) >= `minimum`,
    and below `limit` when one is given."""
    allowed = f"an int >= {minimum}" + (f" and < {limit}" if limit is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(name, value, allowed)
    if value < minimum or (limit is not None and value >= limit):
        fail(name, value, allowed)
    return int(value)


def check_number(
    name: str,
    value: object,
    minimum: float = 0.0,
    below: float | None = None,
) -> float:
    """`value` as a float if it is a finite real number >= `minimum` (and < `below`)."""
    allowed = f"a finite number >= {minimum:g}" + (f" and < {below:g}" if below is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, value, allowed)
    value = float(value)
    if not math.isfinite(value) or value < minimum or (below is not None and value >= below):
        fail(name, value, allowed)
    return value


def check_text(name: str, value: object) -> str:
    """`value` if it is a non-empty string."""
    if not isinstance(value, str) or not value:
        fail(name, value, "a non-empty string")
    return value


def optional(check):
    """`check` that lets None through: `optional(check_int)("max_examples", None)` is None."""
    return lambda name, value, *args: None if value is None else check(name, value, *args)


check_optional_int = optional(check_int)
check_optional_number = optional(check_number)
check_optional_text = optional(check_text)


def check_choice(name: str, value: object, choices: Sequence) -> object:
    """`value` if it is one of `choices` (compared with ==, bools kept apart from ints)."""
    for choice in choices:
        if type(value) is type(choice) and value == choice:
            return value
    fail(name, value, "one of " + ", ".join(repr(choice) for choice in choices))


def check_seeds(name: str, value: object) -> tuple[int, ...]:
    """A non-empty list or tuple of distinct seeds, each an int in [0, 2**32)."""
    allowed = "a non-empty list of distinct ints >= 0 and < 2**32"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        fail(name, value, allowed)
    seeds = tuple(check_int(f"{name}[{i}]", seed, 0, SEED_LIMIT) for i, seed in enumerate(value))
    if len(set(seeds)) != len(seeds):
        fail(name, value, allowed)
    return seeds


def keras_version() -> tuple[int, int]:
    """The installed Keras's (major, minor), read without importing it."""
    major, minor = re.findall(r"\d+", importlib.metadata.version("keras"))[:2]
    return int(major), int(minor)


def check_optimizer_name(name: object, what: str = "optimizer") -> str:
    """The lower-cased name of a Keras optimizer that the installed Keras has.

    Checked without importing Keras, so that a command line answers a bad name at once.
    """
    key = name.lower() if isinstance(name, str) else None
    if key not in KERAS_OPTIMIZERS:
        fail(what, name, f"a Keras optimizer's name, in any case: {', '.join(KERAS_OPTIMIZERS)}")
    missing = not_in_this_keras(key)
    if missing:
        raise ValueError(f"`{what}` {name!r}: {missing}. Received: {what}={name!r}")
    return key


def not_in_this_keras(key: str) -> str | None:
    """Why the installed Keras cannot give the optimizer `key` ("muon") a twin, or None."""
    needed = NEEDS_KERAS.get(key)
    if needed is None or keras_version() >= needed:
        return None
    return (
        f"it needs keras.optimizers.{KERAS_OPTIMIZERS[key]} of Keras {needed[0]}.{needed[1]} or "
        f"later; this Keras is {importlib.metadata.version('keras')} (pip install -U keras)"
    )


def check_centralize(centralize: object) -> str:
    """`centralize` if it is "gradient" or "update"."""
    return check_choice("centralize", centralize, CENTRALIZE_MODES)
