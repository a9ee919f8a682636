"""The timed comparison's command line: `python -m gc_tutorial.experiment --dataset digits ...`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gc_tutorial.command_line import (
    EXPECTED_ERRORS,
    add_config_arguments,
    command_line_message,
    config_from_arguments,
)
from gc_tutorial.config import DEFAULT_OUTPUT_DIR


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: `python -m gc_tutorial.experiment --dataset digits --no-augment ...`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR, help="where results go")
    parser.add_argument(
        "--tensorboard-dir",
        default=None,
        help="TensorBoard logs of every arm go to DIR/seed<N>/<arm> (default: none)",
    )
    arguments = parser.parse_args(argv)
    try:
        config = config_from_arguments(arguments)
        # Imported once the arguments are checked: a bad flag is answered before Keras loads.
        from gc_tutorial.comparison import run_comparison

        result = run_comparison(
            config, output_dir=arguments.output_dir, tensorboard_dir=arguments.tensorboard_dir
        )
    except EXPECTED_ERRORS as error:
        parser.exit(2, f"{parser.prog}: error: {command_line_message(error)}\n")
    print(result.report())
    print(f"Tables and plots written to {result.output_dir}")


if __name__ == "__main__":
    main()
