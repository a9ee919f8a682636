"""What the command lines share: one flag per config field, and one-line errors."""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any

from gc_tutorial.config import ComparisonConfig, config_defaults
from gc_tutorial.files.storage import FolderInUseError


def config_help() -> dict[str, str]:
    """Every field's help text."""
    return {item.name: item.metadata["help"] for item in dataclasses.fields(ComparisonConfig)}


def flag(name: str) -> str:
    """The command-line flag of a field: `learning_rate` -> `--learning-rate`."""
    return "--" + name.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per config field, with its type, default and help text."""
    for item in dataclasses.fields(ComparisonConfig):
        if item.name in skip:
            continue
        default, help_text = item.default, item.metadata["help"]
        options: dict[str, Any] = {"dest": item.name, "default": default}
        if item.name == "seeds":
            options.update(type=int, nargs="+", default=list(default))
        elif item.name == "jit_compile":
            options.update(type=_parse_jit_compile)
        elif isinstance(default, bool):
            options.update(action=argparse.BooleanOptionalAction)
        else:
            options.update(type=_field_type(item.name))
        parser.add_argument(flag(item.name), help=f"{help_text} (default: {default!r})", **options)


def config_from_arguments(arguments: argparse.Namespace) -> ComparisonConfig:
    """The config named by parsed `add_config_arguments` flags."""
    names = [item.name for item in dataclasses.fields(ComparisonConfig)]
    return ComparisonConfig(
        **{name: getattr(arguments, name) for name in names if hasattr(arguments, name)}
    )


def _field_type(name: str):
    default = config_defaults()[name]
    if isinstance(default, int):
        return int
    if isinstance(default, float) or name in ("momentum",):
        return float
    if name == "max_examples":
        return int
    return str


def _parse_jit_compile(text: str) -> bool | str:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


# Errors a user can fix: one line and exit status 2 on the command line. OSError includes a
# missing or unwritable folder, a full disk and a dataset that cannot be downloaded.
EXPECTED_ERRORS = (ValueError, OSError, FolderInUseError)


def command_line_message(error: BaseException) -> str:
    """An error's message with the Python argument names turned into the command's flags:
    `dataset='digits'` -> `--dataset digits`, `augment=False` -> `--no-augment`,
    `data_dir=` and `data_dir` -> `--data-dir`."""

    def as_flag(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        if not value:
            return f"`{flag(name)}`"
        if value in ("True", "False"):
            return f"`{flag(name) if value == 'True' else '--no-' + flag(name)[2:]}`"
        return f"`{flag(name)} {value.strip(chr(39))}`"

    names = "|".join([*ComparisonConfig.__dataclass_fields__, "output_dir"])
    return re.sub(rf"`({names})(?:=([^`]*))?`", as_flag, str(error))
