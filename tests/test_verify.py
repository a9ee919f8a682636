"""verify_gc: tell from training whether an optimizer applies GC, and how.

Runs on whichever backend KERAS_BACKEND selects; CI runs it on TensorFlow, JAX and PyTorch.
"""

import doctest

import keras
import pytest
from keras import ops

import gc_tutorial.verify
from gc_tutorial import GCSGD, GCAdam, GCRMSprop, verify_gc
from gc_tutorial.verify import VERDICTS


class KerasExampleRMSprop(keras.optimizers.RMSprop):
    """The keras-io example's GC: a Keras 2 `get_gradients()` override, never called in Keras 3."""

    def get_gradients(self, loss, params):
        grads = []
        gradients = super().get_gradients()
        for grad in gradients:
            grad_len = len(grad.shape)
            if grad_len > 1:
                axis = list(range(grad_len - 1))
                grad -= ops.mean(grad, axis=axis, keep_dims=True)
            grads.append(grad)
        return grads


class HandwrittenGCAdam(keras.optimizers.Adam):
    """A user's own GC on the gradient, written from scratch in `apply()`."""

    def apply(self, grads, trainable_variables=None):
        grads = [
            g - ops.mean(g, axis=tuple(range(len(g.shape) - 1)), keepdims=True)
            if len(g.shape) > 1
            else g
            for g in grads
        ]
        return super().apply(grads, trainable_variables)


class WrongAxisGCAdam(keras.optimizers.Adam):
    """GC over the last axis, as for PyTorch's (out, in) weights: not Keras's output units."""

    def apply(self, grads, trainable_variables=None):
        grads = [g - ops.mean(g, axis=-1, keepdims=True) if len(g.shape) > 1 else g for g in grads]
        return super().apply(grads, trainable_variables)


class MyGCRMSprop(GCRMSprop):
    """A user subclass of a GC twin."""


@pytest.mark.parametrize(
    "optimizer, verdict",
    [
        (keras.optimizers.RMSprop(learning_rate=1e-3), "none"),
        (KerasExampleRMSprop(learning_rate=1e-3), "none"),
        (GCAdam(), "gradient"),
        (GCAdam(centralize="update"), "update"),
        (HandwrittenGCAdam(), "gradient"),
        (MyGCRMSprop(centralize="update", rho=0.8), "update"),
        (WrongAxisGCAdam(), "other"),
    ],
    ids=["RMSprop", "keras-example", "GCAdam", "GCAdam-update", "handwritten", "subclass", "axis"],
)
def test_verdicts(optimizer, verdict):
    result = verify_gc(optimizer)
    assert result.verdict == verdict, str(result)
    assert result.verdict in VERDICTS
    assert result.reference == ("RMSprop" if "RMSprop" in type(optimizer).__name__ else "Adam")
    assert set(result.distances) == {"none", "gradient", "update"}
    closest = min(result.distances, key=result.distances.get)
    if verdict == "other":
        assert min(result.distances.values()) > result.tolerance
    else:
        assert closest == verdict and result.distances[verdict] <= result.tolerance
        others = [d for key, d in result.distances.items() if key != verdict]
        assert min(others) > 100 * result.tolerance  # the references are far apart
    # Centralizing the update keeps every unit's kernel mean; the other verdicts move them.
    assert (result.unit_mean_drift < 1e-3) == (verdict == "update")
    line = str(result)
    assert "\n" not in line and f"verdict '{verdict}'" in line
    assert line.startswith(type(optimizer).__name__)
    assert not optimizer.built  # a copy trained the probe


@pytest.mark.parametrize("centralize", ["gradient", "update"])
def test_conv_only_optimizers_are_compared_with_conv_only_references(centralize):
    """The probe's Dense kernel is left alone by `conv_only`: so must the references' be."""
    result = verify_gc(GCAdam(conv_only=True, centralize=centralize))
    assert result.verdict == centralize, str(result)


def test_sgd_modes_agree_and_the_verdict_says_gradient():
    result = verify_gc(GCSGD(learning_rate=0.05, momentum=0.9, centralize="update"))
    assert result.modes_agree and result.verdict == "gradient"
    assert "the same" in str(result)
    assert result.unit_mean_drift < 1e-3


def test_loss_scale_optimizer_is_checked_through_its_inner_optimizer():
    wrapped = keras.optimizers.LossScaleOptimizer(GCAdam(centralize="update"))
    assert verify_gc(wrapped).verdict == "update"


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            "adam",
            "`optimizer` must be a Keras optimizer, an instance of keras.optimizers.Optimizer"
            ". Received: optimizer='adam'",
        ),
        (keras.optimizers.Adam, "a class: pass an instance"),
        (None, "Received: optimizer=None"),
        (object(), "must be a Keras optimizer"),
    ],
)
def test_anything_but_a_keras_optimizer_is_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        verify_gc(bad)


def test_an_optimizer_not_built_on_a_keras_one_is_refused():
    class HomeMade(keras.optimizers.Optimizer):
        def update_step(self, gradient, variable, learning_rate):
            variable.assign_sub(gradient * learning_rate)

    with pytest.raises(ValueError, match="built-in Keras optimizer or of a subclass of one"):
        verify_gc(HomeMade(learning_rate=0.1))
    with pytest.raises(ValueError, match="does not change the probe"):
        verify_gc(keras.optimizers.SGD(learning_rate=0.0))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "`steps` must be an int >= 1. Received: steps=0"),
        ({"steps": 1.5}, "steps=1.5"),
        ({"tolerance": 0}, r"`tolerance` must be a number in \(0, 0.1\]. Received: tolerance=0"),
        ({"tolerance": True}, "tolerance=True"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        verify_gc(GCAdam(), **kwargs)


def test_docstring_examples_run():
    results = doctest.testmod(gc_tutorial.verify)
    assert results.attempted >= 3 and results.failed == 0


def test_train_probe_model_starts_and_trains_alike_every_time():
    first = gc_tutorial.verify.train_probe_model(keras.optimizers.RMSprop(learning_rate=1e-3))
    again = gc_tutorial.verify.train_probe_model(keras.optimizers.RMSprop(learning_rate=1e-3))
    with_gc = gc_tutorial.verify.train_probe_model(GCRMSprop(learning_rate=1e-3))
    assert all((a == b).all() for a, b in zip(first, again, strict=True))
    assert not all((a == b).all() for a, b in zip(first, with_gc, strict=True))


@pytest.mark.parametrize(
    "optimizer, drifts",
    [
        (lambda: keras.optimizers.SGD(learning_rate=0.1), True),
        (lambda: GCSGD(learning_rate=0.1), False),
        (lambda: GCAdam(learning_rate=1e-3), True),
        (lambda: GCAdam(learning_rate=1e-3, centralize="update"), False),
    ],
    ids=["SGD", "GCSGD", "GCAdam-gradient", "GCAdam-update"],
)
def test_unit_mean_drift_is_zero_only_where_gc_keeps_the_unit_means(optimizer, drifts):
    drift = gc_tutorial.verify.unit_mean_drift(optimizer(), steps=4)
    assert len(drift) == 4
    assert (max(drift) > 1e-4) is drifts
    if not drifts:
        assert max(drift) < 1e-6


def test_unit_mean_drift_refuses_a_bad_step_count():
    with pytest.raises(ValueError, match=r"`steps` must be an int >= 1\. Received: steps=0"):
        gc_tutorial.verify.unit_mean_drift(GCSGD(learning_rate=0.1), steps=0)
