"""Gradient Centralization (Yong et al., 2020, arXiv:2004.01461) for Keras 3.

GC subtracts from the gradient of every weight of rank > 1 its mean over all
axes but the output axis, so each output unit's gradient has zero mean.

Keras 3 optimizers never call `get_gradients()`; every backend's training step
reaches `Optimizer.apply(grads, variables)` (JAX through `stateless_apply`,
which calls `apply` too). That is where `GradientCentralization` hooks in.
"""

from __future__ import annotations

import inspect

import keras
from keras import ops


def check_bool(name: str, value: object) -> bool:
    """Return `value` if it is a bool; otherwise raise `ValueError` naming `name`."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False, got {value!r} ({type(value).__name__}).")
    return value


def centralize_gradient(grad, conv_only: bool = False):
    """Return `grad` minus its mean over all axes but the last (output) axis.

    Keras kernels keep output units on the last axis (Dense `(in, out)`,
    Conv2D `(kh, kw, in, out)`), so after centralization each output unit's
    gradient has zero mean. Gradients of rank 1 (biases, normalization
    scales) are returned unchanged.

    Args:
        grad: a gradient tensor of any Keras backend.
        conv_only: if True, centralize only convolution kernels (rank >= 3:
            Conv1D/2D/3D) and leave Dense kernels alone. The paper's PyTorch
            code (`use_gc` with `gc_conv_only`) tests `dim > 3`, so there it
            also skips Conv1d kernels; here Conv1D kernels are centralized.
    """
    check_bool("conv_only", conv_only)
    rank = len(grad.shape)
    if rank < (3 if conv_only else 2):
        return grad
    grad = _densify(grad)
    return grad - ops.mean(grad, axis=tuple(range(rank - 1)), keepdims=True)


def _densify(grad):
    """An Embedding's gradient is sparse on TensorFlow; its centralized form is dense."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(grad, tf.IndexedSlices):
            return tf.convert_to_tensor(grad)
    return grad


class GradientCentralization:
    """Mixin that turns a `keras.optimizers.Optimizer` subclass into its GC variant.

    Put it first among the bases: `class GCSGD(GradientCentralization,
    keras.optimizers.SGD)`. The subclass takes every argument of the Keras
    optimizer plus `conv_only`; gradients are centralized in `apply()`, before
    loss-scale unscaling, gradient accumulation, clipping and weight decay. GC is
    linear, so centralizing before those linear steps equals centralizing after.
    """

    def __init__(self, *args, conv_only: bool = False, **kwargs):
        check_bool("conv_only", conv_only)
        super().__init__(*args, **kwargs)
        self.conv_only = conv_only

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__signature__ = _signature_with_conv_only(cls)

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None and not self.built:
            return super().apply(grads, trainable_variables)  # Keras's own error
        variables = (
            self._trainable_variables if trainable_variables is None else list(trainable_variables)
        )
        grads = [
            self._centralize(grad, variable)
            for grad, variable in zip(grads, variables, strict=True)
        ]
        return super().apply(grads, None if trainable_variables is None else variables)

    def _centralize(self, grad, variable):
        # Float8 layers set `overwrite_with_gradient` on their scale variables:
        # their "gradient" is the new value, not a direction to centralize.
        if grad is None or getattr(variable, "overwrite_with_gradient", False):
            return grad
        return centralize_gradient(grad, self.conv_only)

    def get_config(self):
        config = super().get_config()
        config["conv_only"] = self.conv_only
        return config


def _keras_optimizer_base(cls: type) -> type:
    for base in cls.__mro__[1:]:
        if issubclass(base, keras.optimizers.Optimizer) and not issubclass(
            base, GradientCentralization
        ):
            return base
    raise TypeError(f"{cls.__name__} must also subclass a keras.optimizers.Optimizer.")


def _signature_with_conv_only(cls: type) -> inspect.Signature:
    """The Keras optimizer's constructor signature with `conv_only` added."""
    base_parameters = list(
        inspect.signature(_keras_optimizer_base(cls).__init__).parameters.values()
    )[1:]  # drop `self`
    named = [p for p in base_parameters if p.kind is not p.VAR_KEYWORD]
    rest = [p for p in base_parameters if p.kind is p.VAR_KEYWORD]
    conv_only = inspect.Parameter(
        "conv_only", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=bool
    )
    return inspect.Signature(named + [conv_only] + rest)


@keras.saving.register_keras_serializable(package="gc_tutorial")
class GCSGD(GradientCentralization, keras.optimizers.SGD):
    """`keras.optimizers.SGD` with Gradient Centralization.

    Takes every argument of `keras.optimizers.SGD`, plus `conv_only` (bool,
    default False): centralize convolution kernels only.
    """


@keras.saving.register_keras_serializable(package="gc_tutorial")
class GCRMSprop(GradientCentralization, keras.optimizers.RMSprop):
    """`keras.optimizers.RMSprop` with Gradient Centralization.

    Takes every argument of `keras.optimizers.RMSprop`, plus `conv_only` (bool,
    default False): centralize convolution kernels only.
    """


@keras.saving.register_keras_serializable(package="gc_tutorial")
class GCAdam(GradientCentralization, keras.optimizers.Adam):
    """`keras.optimizers.Adam` with Gradient Centralization.

    Takes every argument of `keras.optimizers.Adam`, plus `conv_only` (bool,
    default False): centralize convolution kernels only.
    """


@keras.saving.register_keras_serializable(package="gc_tutorial")
class GCAdamW(GradientCentralization, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with Gradient Centralization.

    Takes every argument of `keras.optimizers.AdamW`, plus `conv_only` (bool,
    default False): centralize convolution kernels only.
    """


OPTIMIZERS = {
    "sgd": (keras.optimizers.SGD, GCSGD),
    "rmsprop": (keras.optimizers.RMSprop, GCRMSprop),
    "adam": (keras.optimizers.Adam, GCAdam),
    "adamw": (keras.optimizers.AdamW, GCAdamW),
}


def check_optimizer_name(name: object) -> str:
    """Return the lower-cased optimizer name, or raise `ValueError` listing the known ones."""
    key = name.lower() if isinstance(name, str) else None
    if key not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; known optimizers: {', '.join(OPTIMIZERS)}.")
    return key


def check_learning_rate(learning_rate: object) -> float:
    """Return `learning_rate` as a float, or raise `ValueError` unless it is a number >= 0."""
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)):
        raise ValueError(
            f"`learning_rate` must be a number >= 0, got {learning_rate!r} "
            f"({type(learning_rate).__name__})."
        )
    if not learning_rate >= 0:  # also catches NaN
        raise ValueError(f"`learning_rate` must be >= 0, got {learning_rate!r}.")
    return float(learning_rate)


def make_optimizer(
    name: str,
    *,
    gc: bool,
    learning_rate: float,
    conv_only: bool = False,
    **kwargs,
) -> keras.optimizers.Optimizer:
    """Build a Keras optimizer by name, with or without Gradient Centralization.

    Args:
        name: one of "sgd", "rmsprop", "adam", "adamw" (case-insensitive).
        gc: True for the GC variant, False for the plain Keras optimizer.
        learning_rate: a number >= 0.
        conv_only: with `gc=True`, centralize convolution kernels only.
            It has no meaning without GC, so `conv_only=True` with `gc=False`
            is an error.
        **kwargs: any other argument of the Keras optimizer (`momentum`,
            `clipnorm`, ...).
    """
    plain_class, gc_class = OPTIMIZERS[check_optimizer_name(name)]
    check_bool("gc", gc)
    check_bool("conv_only", conv_only)
    learning_rate = check_learning_rate(learning_rate)
    if gc:
        return gc_class(learning_rate=learning_rate, conv_only=conv_only, **kwargs)
    if conv_only:
        raise ValueError("`conv_only=True` needs `gc=True`: it selects what GC centralizes.")
    return plain_class(learning_rate=learning_rate, **kwargs)
