"""Argument checks shared by every module, all in one message style.

Each check returns the (normalized) value or raises `ValueError` saying what is
allowed and what was received, as Keras does:
"`epochs` must be an int >= 1. Received: epochs=1.5 (float)".
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import NoReturn

# numpy's default generator takes seeds below 2**32 in keras.utils.set_random_seed.
SEED_LIMIT = 2**32


def fail(name: str, value: object, allowed: str) -> NoReturn:
    """Raise the package's one kind of argument error."""
    raise ValueError(
        f"`{name}` must be {allowed}. Received: {name}={value!r} ({type(value).__name__})."
    )


def check_digits_not_augmented(
    augment: object, dataset: object, what: str = "dataset", hint: str = ""
) -> None:
    """Digits are never augmented: a flip or a rotation changes a digit's class."""
    if dataset == "digits" and augment:
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


def check_optional_int(name: str, value: object, minimum: int = 1) -> int | None:
    """None, or `check_int`."""
    return None if value is None else check_int(name, value, minimum)


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


def check_optional_number(name: str, value: object, minimum=0.0, below=None) -> float | None:
    """None, or `check_number`."""
    return None if value is None else check_number(name, value, minimum, below)


def check_text(name: str, value: object) -> str:
    """`value` if it is a non-empty string."""
    if not isinstance(value, str) or not value:
        fail(name, value, "a non-empty string")
    return value


def check_optional_text(name: str, value: object) -> str | None:
    """None, or `check_text`."""
    return None if value is None else check_text(name, value)


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
