"""Did GC run? Tell it from how an optimizer trains, not from its code.

`verify_gc(optimizer)` trains a tiny probe model from the same weights on the same batch with
(a copy of) the optimizer, the plain Keras optimizer it builds on, and that optimizer's GC twin
centralizing the gradient and the update; the verdict names the one it trains like.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
from dataclasses import dataclass

import numpy as np

from gc_tutorial._quiet_tensorflow import load_keras_quietly
from gc_tutorial.checks import check_int, fail
from gc_tutorial.optimizers import OPTIMIZERS

load_keras_quietly()  # before Keras's first import: TensorFlow's start-up logs stay out
import keras  # noqa: E402

VERDICTS = ("gradient", "update", "none", "other")
PROBE_BATCH_SIZE = 8


@dataclass(frozen=True)
class GCVerdict:
    """What `verify_gc` found, and the numbers behind it.

    `verdict` is "gradient" or "update" (trains like the GC twin in that mode; "gradient"
    also when the two modes train alike, `modes_agree`, as SGD's do), "none" (like the plain
    Keras optimizer `reference`: GC does not run) or "other" (like none of them).
    `distances` holds, for "none", "gradient" and "update", the largest difference between
    the probe's weights trained by the optimizer and by that reference, relative to the
    largest change the plain optimizer made; `unit_mean_drift`, on the same scale, how far
    an output unit's kernel mean moved (about 0 when the update is centralized). A distance
    up to `tolerance` is a match.
    """

    verdict: str
    optimizer: str
    reference: str
    distances: dict[str, float]
    unit_mean_drift: float
    modes_agree: bool
    tolerance: float

    def __str__(self) -> str:
        d = self.distances
        name, ref = self.optimizer, self.reference
        if self.verdict == "none":
            return (
                f"{name}: GC does not run (verdict 'none'): it trains like plain {ref} "
                f"(relative difference {d['none']:.1e}); {ref} with GC differs by "
                f"{d['gradient']:.2g}."
            )
        if self.verdict in ("gradient", "update"):
            same = (
                " (for this optimizer, centralizing the gradient or the update is the same)"
                if self.modes_agree
                else ""
            )
            return (
                f"{name}: GC runs on the {self.verdict} (verdict '{self.verdict}'): it trains "
                f"like {ref} with centralized {self.verdict}s (relative difference "
                f"{d[self.verdict]:.1e}){same}; plain {ref} differs by {d['none']:.2g}."
            )
        return (
            f"{name}: verdict 'other': it trains like none of plain {ref} ({d['none']:.2g} "
            f"away), {ref} with GC on the gradient ({d['gradient']:.2g}) or on the update "
            f"({d['update']:.2g})."
        )


def verify_gc(optimizer, *, steps: int = 2, tolerance: float = 1e-4) -> GCVerdict:
    """Check whether, and how, an optimizer applies Gradient Centralization.

    Args:
        optimizer: an instance of a built-in Keras optimizer, of its GC twin or of a subclass
            of either (a `LossScaleOptimizer` is checked through its inner optimizer). A copy,
            built from its config, trains the probe: a Conv2D and a Dense layer whose
            gradients have clearly non-zero unit means.
        steps: optimizer updates to train the probe for (each of
            `gradient_accumulation_steps` batches, where set), >= 1.
        tolerance: the largest relative distance that counts as a match, in (0, 0.1]; runs
            that should be identical differ by about 1e-6 through float rounding.

    Returns a `GCVerdict`, whose `str()` explains it in a line.

    Examples:
        >>> import keras
        >>> from gc_tutorial import GCAdam
        >>> verify_gc(keras.optimizers.Adam()).verdict
        'none'
        >>> verify_gc(GCAdam(centralize="update")).verdict
        'update'
    """
    optimizer = _check_optimizer(optimizer)
    check_int("steps", steps)
    if not (isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool)):
        fail("tolerance", tolerance, "a number in (0, 0.1]")
    if not 0 < tolerance <= 0.1:
        fail("tolerance", tolerance, "a number in (0, 0.1]")

    plain_class, gc_class = OPTIMIZERS[_builtin_base(optimizer).__name__.lower()]
    batches = steps * (optimizer.gradient_accumulation_steps or 1)
    with _tensorflow_logger_muted():  # four small models in a row: TF warns about retracing
        trained = {}
        for key, make in _probe_optimizers(optimizer, plain_class, gc_class).items():
            weights = _probe_training(make(), batches)  # every run starts from `initial`
            initial, trained[key] = weights[0], weights[-1]
            if key == "none" and not _largest_difference(trained[key], initial) > 0:
                raise ValueError(
                    f"verify_gc could not tell: plain {plain_class.__name__} with the config of "
                    "`optimizer` does not change the probe's weights (learning rate 0?). "
                    f"Received: optimizer={type(optimizer).__name__}"
                )
    scale = _largest_difference(trained["none"], initial)
    distances = {
        key: _largest_difference(trained["given"], trained[key]) / scale
        for key in ("none", "gradient", "update")
    }
    modes_agree = _largest_difference(trained["gradient"], trained["update"]) / scale <= tolerance
    closest = min(distances, key=distances.get)
    if distances[closest] > tolerance:
        verdict = "other"
    else:
        verdict = "gradient" if closest != "none" and modes_agree else closest
    return GCVerdict(
        verdict=verdict,
        optimizer=type(optimizer).__name__,
        reference=plain_class.__name__,
        distances=distances,
        unit_mean_drift=_unit_mean_drift(trained["given"], initial) / scale,
        modes_agree=modes_agree,
        tolerance=float(tolerance),
    )


def _probe_optimizers(optimizer, plain_class, gc_class) -> dict:
    """Fresh optimizers for the probe, plain first: a copy of `optimizer`, and its references
    (the plain optimizer's config keys; the twins also get the `conv_only` of `optimizer`)."""
    config = optimizer.get_config()
    plain_config = {k: v for k, v in config.items() if k in _parameters(plain_class)}
    conv_only = getattr(optimizer, "conv_only", False) is True

    def twin(centralize):
        gc_config = {**plain_config, "conv_only": conv_only, "centralize": centralize}
        return lambda: gc_class.from_config(copy.deepcopy(gc_config))

    return {
        "none": lambda: plain_class.from_config(copy.deepcopy(plain_config)),
        "given": lambda: _copy(optimizer, config),
        "gradient": twin("gradient"),
        "update": twin("update"),
    }


def _check_optimizer(optimizer):
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return _check_optimizer(optimizer.inner_optimizer)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        hint = " (a class: pass an instance, e.g. Adam())" if isinstance(optimizer, type) else ""
        raise ValueError(
            "`optimizer` must be a Keras optimizer, an instance of keras.optimizers.Optimizer"
            f"{hint}. Received: optimizer={optimizer!r}"
        )
    return optimizer


def _copy(optimizer, config):
    try:
        return type(optimizer).from_config(copy.deepcopy(config))
    except Exception as error:
        raise ValueError(
            "verify_gc trains a copy of `optimizer`, built with "
            f"{type(optimizer).__name__}.from_config(optimizer.get_config()), which failed: "
            f"{error}. Received: optimizer={type(optimizer).__name__}"
        ) from error


@contextlib.contextmanager
def _tensorflow_logger_muted():
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _builtin_base(optimizer) -> type:
    """The built-in Keras optimizer that `optimizer`'s class is or derives from."""
    builtins = {plain_class for plain_class, _ in OPTIMIZERS.values()}
    for cls in type(optimizer).__mro__:
        if cls in builtins:
            return cls
    raise ValueError(
        "`optimizer` must be an instance of a built-in Keras optimizer or of a subclass of one "
        f"({', '.join(c.__name__ for c in builtins)}): verify_gc compares it with that "
        f"optimizer with and without GC. Received: optimizer={type(optimizer).__name__}"
    )


def _parameters(cls: type) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}


def _probe_model() -> keras.Model:
    """A Conv2D and a Dense kernel (plus biases), seeded (leaving the global random state
    alone) and in float32 (comparable to rounding under any global dtype policy)."""
    initializer = keras.initializers.GlorotUniform
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, kernel_initializer=initializer(1), dtype="float32"),
            keras.layers.Flatten(dtype="float32"),
            keras.layers.Dense(3, kernel_initializer=initializer(2), dtype="float32"),
        ]
    )


def _probe_data():
    """A batch with non-zero means, so that each unit's gradient has a clear mean."""
    rng = np.random.default_rng(0)
    x = rng.normal(0.5, 1.0, size=(PROBE_BATCH_SIZE, 6, 6, 2)).astype("float32")
    y = rng.normal(1.0, 1.0, size=(PROBE_BATCH_SIZE, 3)).astype("float32")
    return x, y


def _largest_difference(weights_a, weights_b) -> float:
    return float(max(np.abs(a - b).max() for a, b in zip(weights_a, weights_b, strict=True)))


def _unit_mean_drift(trained, initial) -> float:
    def unit_means(w):
        return w.mean(axis=tuple(range(w.ndim - 1)))

    return float(
        max(
            np.abs(unit_means(a) - unit_means(b)).max()
            for a, b in zip(trained, initial, strict=True)
            if a.ndim > 1
        )
    )


def train_probe_model(optimizer, *, steps: int = 3) -> list[np.ndarray]:
    """The probe model's weights after `steps` training steps with `optimizer`, from the same
    weights and batch at every call: optimizers that train alike give equal weights."""
    return [np.asarray(w) for w in _probe_training(optimizer, steps)[-1]]


def unit_mean_drift(optimizer, *, steps: int = 20) -> list[float]:
    """After each of `steps` training steps of the probe model, how far any output unit's
    mean kernel weight has moved: it stays at 0 (up to rounding) with GC on the gradient and
    plain SGD, and with GC on the update and any optimizer.

    Examples:
        >>> from gc_tutorial import GCSGD
        >>> max(unit_mean_drift(GCSGD(learning_rate=0.1), steps=5)) < 1e-6
        True
    """
    weights = _probe_training(optimizer, steps)
    return [_unit_mean_drift(trained, weights[0]) for trained in weights[1:]]


def _probe_training(optimizer, steps: int) -> list[list[np.ndarray]]:
    """The probe model's weights before training and after each of `steps` steps on one
    batch; every call starts from the same weights."""
    check_int("steps", steps)
    model = _probe_model()
    model.compile(optimizer=optimizer, loss="mse")
    x, y = _probe_data()
    weights = [model.get_weights()]
    for _ in range(steps):
        model.train_on_batch(x, y)
        weights.append(model.get_weights())
    return weights
