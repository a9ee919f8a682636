"""One typed, frozen configuration for a comparison; every default is written here once.

`ComparisonConfig` is what `run_comparison` and `train_arm` take. Its defaults are the Keras
example's (horses_or_humans, 300x300, RMSprop 1e-4, 10 epochs); the command line, the batch
runner and the notebooks' parameters read them from here. Like a Keras object it round-trips
through `get_config()` / `from_config()`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from gc_tutorial.checks import (
    CENTRALIZE_MODES,
    SMALLEST_IMAGE_SIZE,
    check_bool,
    check_choice,
    check_digits_not_augmented,
    check_int,
    check_number,
    check_optimizer_name,
    check_optional_int,
    check_optional_number,
    check_optional_text,
    check_seeds,
    check_text,
    fail,
)

DEFAULT_OUTPUT_DIR = "results/comparison"
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop")
PRECISIONS = ("float32", "mixed_bfloat16")


def _setting(default, help: str, check, **extra) -> Any:
    return field(default=default, metadata={"help": help, "check": check, **extra})


@dataclass(frozen=True)
class ComparisonConfig:
    """What a comparison trains: data, model input, optimizer, schedule and seeds.

    Every field is checked when the config is made, before any data is loaded. Both arms
    share every field: the only difference between them is GC.
    """

    dataset: str = _setting(
        "horses_or_humans",
        "tensorflow-datasets name, image folder path, 'digits' (real handwritten digits, "
        "offline) or 'synthetic' (generated, offline)",
        check_text,
    )
    data_dir: str | None = _setting(
        None, "tensorflow-datasets data_dir holding a prepared copy", check_optional_text
    )
    image_size: int = _setting(
        300,
        "images are resized to image_size x image_size",
        lambda name, value: check_int(name, value, SMALLEST_IMAGE_SIZE),
    )
    batch_size: int = _setting(128, "examples per batch", check_int)
    epochs: int = _setting(10, "epochs per arm", check_int)
    optimizer: str = _setting(
        "rmsprop",
        "Keras optimizer name (sgd, rmsprop, adam, adamw, ...)",
        lambda name, value: check_optimizer_name(value, name),
    )
    learning_rate: float = _setting(1e-4, "shared by both arms", check_number)
    momentum: float | None = _setting(
        None,
        "momentum of sgd or rmsprop (None: the optimizer's default)",
        lambda name, value: check_optional_number(name, value, 0.0, 1.0),
    )
    seeds: tuple[int, ...] = _setting(
        (0, 1, 2), "one paired baseline/GC comparison per seed", check_seeds
    )
    conv_only: bool = _setting(False, "the GC arm centralizes convolution kernels only", check_bool)
    centralize: str = _setting(
        "gradient",
        "what the GC arm centralizes: 'gradient' (the paper's GC) or 'update' (each step's change)",
        lambda name, value: check_choice(name, value, CENTRALIZE_MODES),
    )
    augment: bool = _setting(True, "flip/rotate/zoom the training images", check_bool)
    max_examples: int | None = _setting(
        None, "cap on the examples of each split (None: all)", check_optional_int
    )
    steps_per_execution: int = _setting(
        32,
        "training steps per call into TensorFlow (Keras's steps_per_execution): the same numbers "
        "as one step per call, with less overhead; a NaN loss is seen at the end of such a call",
        check_int,
    )
    jit_compile: bool | str = _setting(
        "auto",
        "XLA: True, False or 'auto' (Keras turns it off under op determinism)",
        lambda name, value: check_choice(name, value, (True, False, "auto")),
    )
    precision: str = _setting(
        "float32",
        "Keras dtype policy of both arms: 'float32', or 'mixed_bfloat16' (bfloat16 compute, "
        "float32 weights and GC; faster only on processors with bfloat16 units)",
        lambda name, value: check_choice(name, value, PRECISIONS),
    )

    def __post_init__(self):
        for item in dataclasses.fields(self):
            object.__setattr__(self, item.name, check_setting(item.name, getattr(self, item.name)))
        if self.momentum is not None and self.optimizer not in MOMENTUM_OPTIMIZERS:
            fail(
                "momentum",
                self.momentum,
                f"None for optimizer {self.optimizer!r} (momentum applies to "
                f"{' and '.join(MOMENTUM_OPTIMIZERS)})",
            )
        check_digits_not_augmented(
            self.augment,
            self.dataset,
            hint="; pass augment=False, or --no-augment on the command line",
        )

    def get_config(self) -> dict:
        """Plain JSON-ready values (seeds as a list), as stored in results.json."""
        config = dataclasses.asdict(self)
        config["seeds"] = list(self.seeds)
        return config

    @classmethod
    def from_config(cls, config: dict) -> ComparisonConfig:
        """The inverse of `get_config`."""
        return cls(**_known_settings(config))

    def replace(self, **changes) -> ComparisonConfig:
        """A copy with some fields changed (and checked again)."""
        return dataclasses.replace(self, **_known_settings(changes))

    def identity(self) -> str:
        """A short hash of the settings: two runs with the same identity trained the same way."""
        text = json.dumps(self.get_config(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def optimizer_options(self) -> dict:
        """Keyword arguments for the optimizer beyond the learning rate."""
        return {} if self.momentum is None else {"momentum": self.momentum}


def check_setting(name: str, value: object):
    """One field's value, checked on its own; the checks between fields (momentum and the
    optimizer, augmentation and digits) run when a `ComparisonConfig` is made."""
    item = {item.name: item for item in dataclasses.fields(ComparisonConfig)}[name]
    if name in ("dataset", "data_dir") and isinstance(value, os.PathLike):
        value = os.fspath(value)
    if name in ("dataset", "data_dir") and isinstance(value, str) and value.startswith("~"):
        value = os.path.expanduser(value)
    return item.metadata["check"](name, value)


def config_defaults() -> dict:
    """Every field's default, as plain values (seeds as a list)."""
    return ComparisonConfig().get_config()


def _known_settings(settings: dict) -> dict:
    unknown = sorted(set(settings) - set(config_defaults()))
    if unknown:
        raise ValueError(
            f"Unknown comparison setting(s) {unknown}; known: {sorted(config_defaults())}."
        )
    return settings
