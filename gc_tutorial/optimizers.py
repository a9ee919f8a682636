"""The GC optimizers: every built-in Keras optimizer with Gradient Centralization.

`GCAdam` is `keras.optimizers.Adam` with `UpdateCentralization` in front: Adam's arguments plus
`conv_only` and `centralize` ("gradient" or "update"). `make_optimizer` builds one by name, with
or without GC. A twin the installed Keras cannot have (Muon before Keras 3.13,
ScheduleFreeAdamW before 3.14) is missing, and asking for it names the Keras it needs.

Examples:
    >>> from gc_tutorial.optimizers import GCRMSprop
    >>> GCRMSprop(0.01, 0.8).rho  # positional arguments, as in Keras
    0.8
"""

from __future__ import annotations

import inspect

from gc_tutorial._quiet_tensorflow import load_keras_quietly
from gc_tutorial.checks import (
    KERAS_OPTIMIZERS,
    check_bool,
    check_centralize,
    check_number,
    check_optimizer_name,
    not_in_this_keras,
)
from gc_tutorial.update_mode import UpdateCentralization

load_keras_quietly()  # before Keras's first import: TensorFlow's start-up logs stay out
import keras  # noqa: E402

# Where GC meets an optimizer's own design: added to its twin's docstring.
NOTES = {
    "adamw": 'With `centralize="update"`, the weight decay\'s change is centralized too.',
    "sgd": "Both modes train alike (without weight decay), and each output unit's weight mean "
    "stays where it started.",
    "muon": "GC applies to both of Muon's paths, its Newton-Schulz step on 2-D weights and its "
    "AdamW step on the rest; the Newton-Schulz step keeps a centralized gradient centralized.",
    "schedulefreeadamw": 'With `centralize="update"`, the changes of the weights y and of the '
    "base sequence z are centralized, so the average x keeps each unit's mean too.",
}
# Optimizer state lists that hold iterates in weight space (see `UpdateCentralization`).
WEIGHT_SPACE_SLOTS = {"schedulefreeadamw": ("_momentums",)}


def on_this_backend(keras_class: type) -> type:
    """`keras_class`, or on PyTorch the subclass with a fused update that Keras builds in its
    place (for Adam and eight others), so that a GC twin runs the same fast update."""
    # Keras picks that class in `TorchOptimizer.__new__`; asking `__new__` is how to learn it.
    return type(keras_class.__new__(keras_class))


def signature_with_gc_arguments(keras_class: type) -> inspect.Signature:
    """`keras_class`'s constructor signature with `conv_only` and `centralize` added, so that
    `help()` and editors show the Keras optimizer's own arguments."""
    base = list(inspect.signature(keras_class.__init__).parameters.values())[1:]  # no `self`
    named = [p for p in base if p.kind is not p.VAR_KEYWORD]
    rest = [p for p in base if p.kind is p.VAR_KEYWORD]
    keyword = inspect.Parameter.KEYWORD_ONLY
    added = [
        inspect.Parameter("conv_only", keyword, default=False, annotation=bool),
        inspect.Parameter("centralize", keyword, default="gradient", annotation=str),
    ]
    return inspect.Signature(named + added + rest)


def gc_twin(name: str) -> type:
    """The GC twin of the Keras optimizer `name` ("adam"): `GCAdam(UpdateCentralization,
    keras.optimizers.Adam)`, registered so that a saved model loads it back."""
    keras_class = getattr(keras.optimizers, KERAS_OPTIMIZERS[name])

    class Twin(UpdateCentralization, on_this_backend(keras_class)):
        __doc__ = (
            f"`keras.optimizers.{keras_class.__name__}` with Gradient Centralization; adds "
            f"`conv_only` and `centralize`.\n\n{NOTES.get(name, '')}"
        ).strip()
        __signature__ = signature_with_gc_arguments(keras_class)
        weight_space_slots = WEIGHT_SPACE_SLOTS.get(name, ())

    Twin.__name__ = Twin.__qualname__ = f"GC{keras_class.__name__}"
    return keras.saving.register_keras_serializable(package="gc_tutorial")(Twin)


# Lower-cased Keras name -> (the plain Keras optimizer, its GC twin), for every optimizer the
# installed Keras can give a twin.
OPTIMIZERS = {
    name: (getattr(keras.optimizers, class_name), gc_twin(name))
    for name, class_name in KERAS_OPTIMIZERS.items()
    if not_in_this_keras(name) is None
}
GC_OPTIMIZERS = tuple(twin for _, twin in OPTIMIZERS.values())


def __getattr__(name: str) -> type:
    # The twins by their class names (`GCAdam`), as if each had its own class statement.
    for key, class_name in KERAS_OPTIMIZERS.items():
        if name == f"GC{class_name}":
            if key not in OPTIMIZERS:
                raise AttributeError(f"{name} is not available: {not_in_this_keras(key)}")
            return OPTIMIZERS[key][1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *(twin.__name__ for twin in GC_OPTIMIZERS)])


def make_optimizer(
    name: str,
    *,
    gc: bool,
    learning_rate: float,
    conv_only: bool = False,
    centralize: str = "gradient",
    **kwargs,
) -> keras.optimizers.Optimizer:
    """Build a Keras optimizer by name, with or without Gradient Centralization.

    Args:
        name: the Keras optimizer's name in any case ("adam", "RMSprop", "schedulefreeadamw").
        gc: True for the GC twin, False for the plain Keras optimizer.
        learning_rate: a number >= 0.
        conv_only: with `gc=True`, centralize convolution kernels only.
        centralize: with `gc=True`, "gradient" or "update" (see `UpdateCentralization`).
            Both have no meaning without GC, so setting either with `gc=False` is an error.
        **kwargs: any other argument of the Keras optimizer (`momentum`, `clipnorm`, ...).

    Returns:
        An instance of `keras.optimizers.<Name>`, or of its GC twin.

    Examples:
        >>> optimizer = make_optimizer("Lion", gc=True, learning_rate=1e-4, centralize="update")
        >>> type(optimizer).__name__, isinstance(optimizer, keras.optimizers.Lion)
        ('GCLion', True)
    """
    plain_class, gc_class = OPTIMIZERS[check_optimizer_name(name, "name")]
    check_bool("gc", gc)
    check_bool("conv_only", conv_only)
    check_centralize(centralize)
    learning_rate = check_number("learning_rate", learning_rate)
    if gc:
        return gc_class(
            learning_rate=learning_rate, conv_only=conv_only, centralize=centralize, **kwargs
        )
    if conv_only or centralize != "gradient":
        raise ValueError(
            "`conv_only` and `centralize` select what GC centralizes: they need `gc=True`. "
            f"Received: gc=False, conv_only={conv_only}, centralize={centralize!r}"
        )
    return plain_class(learning_rate=learning_rate, **kwargs)
