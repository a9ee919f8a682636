"""The fourteen GC optimizers: every built-in Keras optimizer with Gradient Centralization.

`GCAdam` is `keras.optimizers.Adam` with `UpdateCentralization` in front: it takes every
argument of Adam, plus `conv_only` (centralize convolution kernels only) and `centralize`
("gradient", the paper's GC, or "update"). `make_optimizer` builds one by name, with or
without GC. A new Keras optimizer gets its twin as the classes below do, plus its entry in
`OPTIMIZERS`.
"""

from __future__ import annotations

import inspect

import keras

from gc_tutorial.centralization import GradientCentralization
from gc_tutorial.checks import check_bool, check_number
from gc_tutorial.update_mode import UpdateCentralization, check_centralize

register = keras.saving.register_keras_serializable(package="gc_tutorial")


def on_this_backend(keras_class: type) -> type:
    """`keras_class`, or on PyTorch the fused subclass that Keras builds in its place.

    On the PyTorch backend, `keras.optimizers.Adam()` (and eight others) returns an instance
    of a subclass with a fused `_parallel_update_step`; a GC optimizer derives from that
    class, so that it runs the same fast update.
    """
    # Keras picks that class in `TorchOptimizer.__new__`; asking `__new__` is how to learn it.
    return type(keras_class.__new__(keras_class))


def signature_with_gc_arguments(keras_class: type) -> inspect.Signature:
    """`keras_class`'s constructor signature with `conv_only` and `centralize` added.

    A GC optimizer's `__init__` takes `*args, **kwargs` and passes them on to the Keras
    optimizer; this signature lets `help()` and editors show the Keras optimizer's own
    arguments instead.
    """
    base = list(inspect.signature(keras_class.__init__).parameters.values())[1:]  # no `self`
    named = [p for p in base if p.kind is not p.VAR_KEYWORD]
    rest = [p for p in base if p.kind is p.VAR_KEYWORD]
    keyword = inspect.Parameter.KEYWORD_ONLY
    added = [
        inspect.Parameter("conv_only", keyword, default=False, annotation=bool),
        inspect.Parameter("centralize", keyword, default="gradient", annotation=str),
    ]
    return inspect.Signature(named + added + rest)


@register
class GCAdadelta(UpdateCentralization, on_this_backend(keras.optimizers.Adadelta)):
    """`keras.optimizers.Adadelta` with Gradient Centralization; adds `conv_only`, `centralize`.

    >>> GCAdadelta(learning_rate=1.0, centralize="update").centralize
    'update'
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.Adadelta)


@register
class GCAdafactor(UpdateCentralization, on_this_backend(keras.optimizers.Adafactor)):
    """`keras.optimizers.Adafactor` with Gradient Centralization; adds `conv_only`, `centralize`.

    >>> GCAdafactor(conv_only=True).conv_only
    True
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.Adafactor)


@register
class GCAdagrad(UpdateCentralization, on_this_backend(keras.optimizers.Adagrad)):
    """`keras.optimizers.Adagrad` with Gradient Centralization; adds `conv_only`, `centralize`.

    >>> GCAdagrad(centralize="update").centralize
    'update'
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.Adagrad)


@register
class GCAdam(UpdateCentralization, on_this_backend(keras.optimizers.Adam)):
    """`keras.optimizers.Adam` with Gradient Centralization; adds `conv_only`, `centralize`.

    >>> GCAdam(learning_rate=1e-3, conv_only=True).get_config()["conv_only"]
    True
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.Adam)


@register
class GCAdamW(UpdateCentralization, on_this_backend(keras.optimizers.AdamW)):
    """`keras.optimizers.AdamW` with Gradient Centralization; adds `conv_only`, `centralize`.

    With `centralize="update"`, the weight decay's change is centralized too.

    >>> GCAdamW(weight_decay=0.05, centralize="update").get_config()["centralize"]
    'update'
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.AdamW)


@register
class GCAdamax(UpdateCentralization, on_this_backend(keras.optimizers.Adamax)):
    """`keras.optimizers.Adamax` with Gradient Centralization; adds `conv_only`, `centralize`.

    >>> GCAdamax(centralize="update").centralize
    'update'
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.Adamax)


@register
class GCFtrl(UpdateCentralization, on_this_backend(keras.optimizers.Ftrl)):
    """`keras.optimizers.Ftrl` with Gradient Centralization; adds `conv_only`, `centralize`.

    >>> GCFtrl(centralize="update").centralize
    'update'
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.Ftrl)


@register
class GCLamb(UpdateCentralization, on_this_backend(keras.optimizers.Lamb)):
    """`keras.optimizers.Lamb` with Gradient Centralization; adds `conv_only`, `centralize`.

    >>> GCLamb(centralize="update").centralize
    'update'
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.Lamb)


@register
class GCLion(UpdateCentralization, on_this_backend(keras.optimizers.Lion)):
    """`keras.optimizers.Lion` with Gradient Centralization; adds `conv_only`, `centralize`.

    >>> GCLion(learning_rate=1e-4, centralize="update").centralize
    'update'
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.Lion)


@register
class GCMuon(UpdateCentralization, on_this_backend(keras.optimizers.Muon)):
    """`keras.optimizers.Muon` with Gradient Centralization; adds `conv_only`, `centralize`.

    Muon updates 2-D weights (Dense kernels not excluded by `exclude_layers` or
    `exclude_embeddings`) with orthogonalized momentum, and everything else (conv kernels,
    biases) with its AdamW step. GC applies to both paths alike. For the Muon path, GC
    centralizes the gradient before the momentum; the Newton-Schulz iteration maps a matrix
    whose columns have zero mean to another one (each term is X times a polynomial in X^T X),
    so the Muon step itself keeps each output unit's weight mean, as SGD's does. Weight decay
    (`weight_decay` on the Muon path, `adam_weight_decay` on the AdamW path) still moves the
    means unless `centralize="update"`.

    >>> GCMuon(centralize="update").centralize
    'update'
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.Muon)


@register
class GCNadam(UpdateCentralization, on_this_backend(keras.optimizers.Nadam)):
    """`keras.optimizers.Nadam` with Gradient Centralization; adds `conv_only`, `centralize`.

    >>> GCNadam(centralize="update").centralize
    'update'
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.Nadam)


@register
class GCRMSprop(UpdateCentralization, on_this_backend(keras.optimizers.RMSprop)):
    """`keras.optimizers.RMSprop` with Gradient Centralization; adds `conv_only`, `centralize`.

    >>> GCRMSprop(0.01, 0.8).rho  # positional arguments, as in Keras
    0.8
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.RMSprop)


@register
class GCSGD(UpdateCentralization, on_this_backend(keras.optimizers.SGD)):
    """`keras.optimizers.SGD` with Gradient Centralization; adds `conv_only`, `centralize`.

    With SGD the step is the gradient times a number, so both modes train alike (without
    weight decay) and each output unit's weight mean stays where it started.

    >>> GCSGD(learning_rate=0.1, momentum=0.9, conv_only=True).conv_only
    True
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.SGD)


@register
class GCScheduleFreeAdamW(
    UpdateCentralization, on_this_backend(keras.optimizers.ScheduleFreeAdamW)
):
    """`keras.optimizers.ScheduleFreeAdamW` with Gradient Centralization; adds `conv_only`,
    `centralize`.

    Schedule-Free AdamW keeps three iterates: the base sequence z (its `momentum` slot,
    started at the weights), the average x, and the model's weights
    y = (1 - beta_1) z + beta_1 x, where the gradient is taken. With `centralize="gradient"`,
    GC centralizes that gradient, which drives z through Adam's scaling. With
    `centralize="update"`, the changes of both y and z are centralized in each step, so z, x
    and y all keep each output unit's mean. Centralizing y alone would let the mean of x drift
    opposite to that of z.

    >>> GCScheduleFreeAdamW(centralize="update").centralize
    'update'
    """

    __signature__ = signature_with_gc_arguments(keras.optimizers.ScheduleFreeAdamW)
    weight_space_slots = ("_momentums",)


# Lower-cased Keras name -> (the plain Keras optimizer, its GC twin).
OPTIMIZERS = {
    "adadelta": (keras.optimizers.Adadelta, GCAdadelta),
    "adafactor": (keras.optimizers.Adafactor, GCAdafactor),
    "adagrad": (keras.optimizers.Adagrad, GCAdagrad),
    "adam": (keras.optimizers.Adam, GCAdam),
    "adamw": (keras.optimizers.AdamW, GCAdamW),
    "adamax": (keras.optimizers.Adamax, GCAdamax),
    "ftrl": (keras.optimizers.Ftrl, GCFtrl),
    "lamb": (keras.optimizers.Lamb, GCLamb),
    "lion": (keras.optimizers.Lion, GCLion),
    "muon": (keras.optimizers.Muon, GCMuon),
    "nadam": (keras.optimizers.Nadam, GCNadam),
    "rmsprop": (keras.optimizers.RMSprop, GCRMSprop),
    "sgd": (keras.optimizers.SGD, GCSGD),
    "schedulefreeadamw": (keras.optimizers.ScheduleFreeAdamW, GCScheduleFreeAdamW),
}

GC_OPTIMIZERS = tuple(gc_class for _, gc_class in OPTIMIZERS.values())


def keras_optimizer_class(cls: type) -> type:
    """The Keras optimizer class that a GC optimizer class (or any subclass) builds on."""
    for base in cls.__mro__:
        if issubclass(base, keras.optimizers.Optimizer) and not issubclass(
            base, GradientCentralization
        ):
            return base
    raise ValueError(
        f"`cls` must subclass a keras.optimizers.Optimizer. Received: cls={cls.__name__}"
    )


def check_optimizer_name(name: object) -> str:
    """Return the lower-cased optimizer name, or raise `ValueError` listing the known ones."""
    key = name.lower() if isinstance(name, str) else None
    if key not in OPTIMIZERS:
        raise ValueError(
            f"Unknown optimizer. `name` must be one of the known optimizers (any case): "
            f"{', '.join(OPTIMIZERS)}. Received: name={name!r}"
        )
    return key


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
        name: the Keras optimizer's name in any case: one of the keys of
            `OPTIMIZERS` ("adadelta", ..., "sgd", "schedulefreeadamw").
        gc: True for the GC twin, False for the plain Keras optimizer.
        learning_rate: a number >= 0.
        conv_only: with `gc=True`, centralize convolution kernels only.
        centralize: with `gc=True`, "gradient" or "update" (see
            `UpdateCentralization`). `conv_only` and `centralize` have no
            meaning without GC, so setting either with `gc=False` is an error.
        **kwargs: any other argument of the Keras optimizer (`momentum`,
            `clipnorm`, ...).

    Returns:
        The optimizer: an instance of `keras.optimizers.<Name>` (or of its GC twin).

    Examples:
        >>> optimizer = make_optimizer("Lion", gc=True, learning_rate=1e-4, centralize="update")
        >>> type(optimizer).__name__, isinstance(optimizer, keras.optimizers.Lion)
        ('GCLion', True)
    """
    plain_class, gc_class = OPTIMIZERS[check_optimizer_name(name)]
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
