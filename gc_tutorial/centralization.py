"""Gradient Centralization (Yong et al., 2020, arXiv:2004.01461) for Keras 3.

GC subtracts from the gradient of every weight of rank > 1 its mean over all
axes but the output axis, so each output unit's gradient has zero mean. The
authors' code also centralizes the final update instead (`Adam_GC2`,
`gc_loc=False`); here that is `centralize="update"`.

Keras 3 optimizers never call `get_gradients()`; every backend's training step
reaches `Optimizer.apply(grads, variables)` (JAX through `stateless_apply`,
which calls `apply` too). That is where `GradientCentralization` centralizes
gradients. Updates are centralized right after the backend's update step and
before the EMA of the weights, so every built-in optimizer is covered, the
PyTorch backend's fused `_parallel_update_step` included.
"""

from __future__ import annotations

import inspect

import keras
from keras import ops

from gc_tutorial.checks import check_bool, check_choice, check_number

CENTRALIZE_MODES = ("gradient", "update")


def check_centralize(centralize: object) -> str:
    """Return `centralize` if it is "gradient" or "update"; otherwise raise `ValueError`."""
    return check_choice("centralize", centralize, CENTRALIZE_MODES)


def centralize_gradient(grad, conv_only: bool = False):
    """Return `grad` minus its mean over all axes but the last (output) axis.

    Keras kernels keep output units on the last axis (Dense `(in, out)`,
    Conv2D `(kh, kw, in, out)`), so after centralization each output unit's
    gradient has zero mean. Gradients of rank 1 (biases, normalization
    scales) are returned unchanged.

    Args:
        grad: a gradient tensor of any Keras backend, or a NumPy array.
        conv_only: if True, centralize only convolution kernels (rank >= 3:
            Conv1D/2D/3D) and leave Dense kernels alone. The paper's PyTorch
            code (`use_gc` with `gc_conv_only`) tests `dim > 3`, so there it
            also skips Conv1d kernels; here Conv1D kernels are centralized.

    Returns:
        The centralized gradient, a tensor of the backend (a NumPy array of
        rank > 1 comes back as one); `grad` itself if it is left alone.

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> grad = np.array([[1.0, 2.0], [3.0, 6.0]], dtype="float32")
        >>> ops.convert_to_numpy(centralize_gradient(grad)).tolist()
        [[-1.0, -2.0], [1.0, 2.0]]
    """
    check_bool("conv_only", conv_only)
    rank = len(grad.shape)
    if rank < (3 if conv_only else 2):
        return grad
    axes = tuple(range(rank - 1))
    if type(grad).__module__ == "torch":  # a torch.Tensor: its own ops skip Keras's dispatch
        return grad - grad.mean(dim=axes, keepdim=True)
    grad = _as_dense_tensor(grad)
    return grad - ops.mean(grad, axis=axes, keepdims=True)


def _as_dense_tensor(grad):
    """A NumPy gradient becomes a backend tensor; an Embedding's sparse TF gradient, a dense one."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(grad, tf.IndexedSlices):
            return tf.convert_to_tensor(grad)
    return grad if ops.is_tensor(grad) else ops.convert_to_tensor(grad)


class GradientCentralization:
    """Mixin that turns a `keras.optimizers.Optimizer` subclass into its GC variant.

    Put it first among the bases: `class GCSGD(GradientCentralization,
    keras.optimizers.SGD)`. The subclass takes every argument of the Keras
    optimizer plus `conv_only` and `centralize`.

    With `centralize="gradient"` (the paper's GC), gradients are centralized in
    `apply()`, before loss-scale unscaling, gradient accumulation, clipping and
    weight decay. GC is linear, so centralizing before unscaling and
    accumulation equals centralizing after. Clipping is not linear:
    `clipnorm` and `global_clipnorm` then scale the centralized gradient, which
    stays centralized (the authors' code clips first: the same direction,
    scaled by the raw gradient's norm); `clipvalue` clips entry by entry, so
    the step it leaves is no longer exactly centralized.

    With `centralize="update"` (the authors' `gc_loc=False` variant), the change
    that one optimizer step makes to each weight of rank > 1, weight decay
    included, is centralized over the same axes: the weight is set to
    `start + centralize_gradient(new - start)`. Each output unit's weight mean
    then stays where it was, whatever the optimizer. This runs after the
    backend's update step and before the EMA of the weights, so the EMA (and
    `finalize_variable_values`) keeps the means too. A step of gradient
    accumulation that only accumulates changes nothing, and nothing is
    centralized.

    A subclass lists in `weight_space_slots` the names of optimizer state lists
    (one entry per trainable variable) that hold iterates in weight space; in
    update mode their changes are centralized as well (see
    `GCScheduleFreeAdamW`).
    """

    weight_space_slots: tuple[str, ...] = ()

    def __init__(self, *args, conv_only: bool = False, centralize: str = "gradient", **kwargs):
        check_bool("conv_only", conv_only)
        check_centralize(centralize)
        super().__init__(*args, **kwargs)
        self.conv_only = conv_only
        self.centralize = centralize
        # The weights at the start of the step being applied, in update mode. Set with
        # object.__setattr__ so that neither Keras nor TensorFlow tracks these tensors.
        object.__setattr__(self, "_update_starts", None)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__signature__ = _signature_with_gc_arguments(cls)

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None and not self.built:
            return super().apply(grads, trainable_variables)  # Keras's own error
        variables = (
            self._trainable_variables if trainable_variables is None else list(trainable_variables)
        )
        grads = [
            self._prepare_gradient(grad, variable)
            for grad, variable in zip(grads, variables, strict=True)
        ]
        return super().apply(grads, None if trainable_variables is None else variables)

    def _prepare_gradient(self, grad, variable):
        if grad is None:
            return grad
        if not ops.is_tensor(grad):  # NumPy: the fused PyTorch updates need tensors
            grad = ops.convert_to_tensor(grad, dtype=variable.dtype)
        if self.centralize == "gradient" and self._centralizes(variable):
            return centralize_gradient(grad, self.conv_only)
        return grad

    def _centralizes(self, variable) -> bool:
        # Float8 layers set `overwrite_with_gradient` on their scale variables:
        # their "gradient" is the new value, not a direction to centralize.
        if getattr(variable, "overwrite_with_gradient", False):
            return False
        return len(variable.shape) >= (3 if self.conv_only else 2)

    def _backend_apply_gradients(self, grads, trainable_variables):
        if self.centralize != "update":
            return super()._backend_apply_gradients(grads, trainable_variables)
        targets = [
            target
            for variable in trainable_variables
            if self._centralizes(variable)
            for target in self._weight_space_iterates(variable)
        ]
        starts = [ops.copy(ops.stop_gradient(target.value)) for target in targets]
        object.__setattr__(self, "_update_starts", list(zip(targets, starts)))
        try:
            super()._backend_apply_gradients(grads, trainable_variables)
        finally:
            object.__setattr__(self, "_update_starts", None)

    def _weight_space_iterates(self, variable) -> list:
        index = self._get_variable_index(variable)
        slots = [getattr(self, name)[index] for name in self.weight_space_slots]
        return [variable] + [slot for slot in slots if slot is not None]

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        super()._backend_update_step(grads, trainable_variables, learning_rate)
        if self._update_starts:
            self._centralize_updates(self._update_starts)

    def _centralize_updates(self, targets_and_starts):
        def centralized(value, start):
            return start + centralize_gradient(ops.stop_gradient(value) - start)

        if keras.backend.backend() != "tensorflow":
            for target, start in targets_and_starts:
                target.assign(centralized(target.value, start))
            return

        # Under tf.distribute the variables are mirrored: update them the way Keras's
        # TensorFlow optimizer does, one device at a time from a merge call.
        import tensorflow as tf

        def assign_centralized(variable, start):
            return variable.assign(centralized(variable, start))

        def update(distribution, pairs):
            for variable, start in pairs:
                distribution.extended.update(
                    variable, assign_centralized, args=(start,), group=False
                )

        pairs = [(target.value, start) for target, start in targets_and_starts]
        tf.__internal__.distribute.interim.maybe_merge_call(
            update, self._distribution_strategy, pairs
        )

    def get_config(self):
        config = super().get_config()
        config["conv_only"] = self.conv_only
        config["centralize"] = self.centralize
        return config


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


def _signature_with_gc_arguments(cls: type) -> inspect.Signature:
    """The Keras optimizer's constructor signature with `conv_only` and `centralize` added."""
    base_parameters = list(
        inspect.signature(keras_optimizer_class(cls).__init__).parameters.values()
    )[1:]  # drop `self`
    named = [p for p in base_parameters if p.kind is not p.VAR_KEYWORD]
    rest = [p for p in base_parameters if p.kind is p.VAR_KEYWORD]
    keyword = inspect.Parameter.KEYWORD_ONLY
    added = [
        inspect.Parameter("conv_only", keyword, default=False, annotation=bool),
        inspect.Parameter("centralize", keyword, default="gradient", annotation=str),
    ]
    return inspect.Signature(named + added + rest)


def _backend_class(keras_class: type) -> type:
    """The class Keras instantiates for `keras_class` on this backend.

    On PyTorch, `keras.optimizers.Adam()` builds a subclass with a fused
    `_parallel_update_step`; the GC twin builds on that same class.
    """
    instance = keras_class.__new__(keras_class)
    return type(instance) if isinstance(instance, keras_class) else keras_class


GC_ARGUMENTS_DOC = """\
Args:
    *args, **kwargs: every argument of `keras.optimizers.{name}`, in its order.
    conv_only: if True, centralize convolution kernels only (rank >= 3) and
        leave Dense kernels alone, in either mode. Default False.
    centralize: "gradient" (the default, the paper's GC) centralizes each
        gradient of rank > 1 before the optimizer uses it. "update" centralizes
        the change the optimizer makes to each such weight in a step (weight
        decay included), so each output unit's weight mean stays where it was.

Examples:
    >>> from gc_tutorial import GC{name}
    >>> optimizer = GC{name}(centralize="update")
    >>> optimizer.centralize, optimizer.conv_only
    ('update', False)
"""


def gc_optimizer_class(keras_class: type, *, note: str = "", weight_space_slots=()) -> type:
    """Build, register and return the GC twin of a Keras optimizer class.

    Args:
        keras_class: a `keras.optimizers.Optimizer` subclass, e.g. `keras.optimizers.Lion`.
        note: what GC does with this optimizer in particular, for the docstring.
        weight_space_slots: names of optimizer state lists whose entries are weight-space
            iterates, centralized along with the weights in update mode.

    Returns:
        `GC<Name>`, a subclass of `GradientCentralization` and of `keras_class`, registered
        as a Keras serializable in the package "gc_tutorial".
    """
    name = keras_class.__name__
    summary = f"`keras.optimizers.{name}` with Gradient Centralization.\n\n"
    namespace = {
        "__doc__": summary + (note + "\n\n" if note else "") + GC_ARGUMENTS_DOC.format(name=name),
        "__module__": __name__,
        "__qualname__": f"GC{name}",
        "weight_space_slots": tuple(weight_space_slots),
    }
    twin = type(f"GC{name}", (GradientCentralization, _backend_class(keras_class)), namespace)
    return keras.saving.register_keras_serializable(package="gc_tutorial")(twin)


MUON_NOTE = """\
Muon updates 2-D weights (Dense kernels not excluded by `exclude_layers` or
`exclude_embeddings`) with orthogonalized momentum, and everything else (conv
kernels, biases) with its AdamW step. GC applies to both paths alike. For the
Muon path, GC centralizes the gradient before the momentum; the Newton-Schulz
iteration maps a matrix whose columns have zero mean to another one (each term
is X times a polynomial in X^T X), so the Muon step itself keeps each output
unit's weight mean, as SGD's does. Weight decay (`weight_decay` on the Muon
path, `adam_weight_decay` on the AdamW path) still moves the means unless
`centralize="update"`."""

SCHEDULE_FREE_NOTE = """\
Schedule-Free AdamW keeps three iterates: the base sequence z (its `momentum`
slot, started at the weights), the average x, and the model's weights
y = (1 - beta_1) z + beta_1 x, where the gradient is taken. With
`centralize="gradient"`, GC centralizes that gradient, which drives z through
Adam's scaling. With `centralize="update"`, the changes of both y and z are
centralized in each step, so z, x and y all keep each output unit's mean.
Centralizing y alone would let the mean of x drift opposite to that of z."""

GCAdadelta = gc_optimizer_class(keras.optimizers.Adadelta)
GCAdafactor = gc_optimizer_class(keras.optimizers.Adafactor)
GCAdagrad = gc_optimizer_class(keras.optimizers.Adagrad)
GCAdam = gc_optimizer_class(keras.optimizers.Adam)
GCAdamW = gc_optimizer_class(keras.optimizers.AdamW)
GCAdamax = gc_optimizer_class(keras.optimizers.Adamax)
GCFtrl = gc_optimizer_class(keras.optimizers.Ftrl)
GCLamb = gc_optimizer_class(keras.optimizers.Lamb)
GCLion = gc_optimizer_class(keras.optimizers.Lion)
GCMuon = gc_optimizer_class(keras.optimizers.Muon, note=MUON_NOTE)
GCNadam = gc_optimizer_class(keras.optimizers.Nadam)
GCRMSprop = gc_optimizer_class(keras.optimizers.RMSprop)
GCSGD = gc_optimizer_class(keras.optimizers.SGD)
GCScheduleFreeAdamW = gc_optimizer_class(
    keras.optimizers.ScheduleFreeAdamW, note=SCHEDULE_FREE_NOTE, weight_space_slots=("_momentums",)
)

GC_OPTIMIZERS = (
    GCAdadelta,
    GCAdafactor,
    GCAdagrad,
    GCAdam,
    GCAdamW,
    GCAdamax,
    GCFtrl,
    GCLamb,
    GCLion,
    GCMuon,
    GCNadam,
    GCRMSprop,
    GCSGD,
    GCScheduleFreeAdamW,
)

# Lower-cased Keras name -> (the plain Keras optimizer, its GC twin).
OPTIMIZERS = {
    gc_class.__name__[2:].lower(): (getattr(keras.optimizers, gc_class.__name__[2:]), gc_class)
    for gc_class in GC_OPTIMIZERS
}


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
            `GradientCentralization`). `conv_only` and `centralize` have no
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
