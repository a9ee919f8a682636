"""Gradient Centralization: the operation, the optimizers, and their Keras plumbing."""

import inspect

import keras
import numpy as np
import pytest
from keras import ops

from gc_tutorial import (
    GCSGD,
    OPTIMIZERS,
    GCAdam,
    GCAdamW,
    GCRMSprop,
    centralize_gradient,
    make_optimizer,
)

GC_CLASSES = [GCSGD, GCRMSprop, GCAdam, GCAdamW]
KERNEL_SHAPES = [(5, 3), (3, 4, 2), (3, 3, 4, 6), (2, 2, 2, 3, 4)]


def unit_means(array):
    """Mean over all axes but the last: one value per output unit."""
    array = np.asarray(array)
    return array.mean(axis=tuple(range(array.ndim - 1)))


def centralized(grad, conv_only=False):
    return ops.convert_to_numpy(centralize_gradient(ops.convert_to_tensor(grad), conv_only))


@pytest.mark.parametrize("shape", KERNEL_SHAPES)
def test_each_output_unit_has_zero_mean_gradient(shape):
    grad = np.random.default_rng(0).normal(3.0, 2.0, size=shape).astype("float32")
    assert np.abs(unit_means(grad)).max() > 0.5
    np.testing.assert_allclose(unit_means(centralized(grad)), 0.0, atol=1e-5)


@pytest.mark.parametrize("shape", KERNEL_SHAPES)
def test_centralization_is_idempotent(shape):
    grad = np.random.default_rng(1).normal(size=shape).astype("float32")
    once = centralized(grad)
    np.testing.assert_allclose(centralized(once), once, atol=1e-6)


def test_rank_one_gradients_pass_unchanged():
    bias_grad = np.arange(6, dtype="float32") + 1.0
    np.testing.assert_array_equal(centralized(bias_grad), bias_grad)


@pytest.mark.parametrize("shape", KERNEL_SHAPES)
def test_centralization_is_linear(shape):
    rng = np.random.default_rng(2)
    x, y = (rng.normal(size=shape).astype("float32") for _ in range(2))
    np.testing.assert_allclose(
        centralized(2.5 * x - 0.5 * y), 2.5 * centralized(x) - 0.5 * centralized(y), atol=1e-5
    )


def test_conv_only_leaves_dense_kernels_and_centralizes_conv_kernels():
    rng = np.random.default_rng(3)
    dense_grad = rng.normal(1.0, size=(5, 3)).astype("float32")
    np.testing.assert_array_equal(centralized(dense_grad, conv_only=True), dense_grad)
    for shape in KERNEL_SHAPES[1:]:  # Conv1D, Conv2D, Conv3D kernels
        conv_grad = rng.normal(1.0, size=shape).astype("float32")
        np.testing.assert_allclose(unit_means(centralized(conv_grad, True)), 0.0, atol=1e-5)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_conv_only_must_be_a_bool(bad):
    with pytest.raises(ValueError, match="conv_only"):
        centralize_gradient(ops.ones((2, 2)), conv_only=bad)
    with pytest.raises(ValueError, match="conv_only"):
        GCSGD(conv_only=bad)
    with pytest.raises(ValueError, match="conv_only"):
        make_optimizer("sgd", gc=True, learning_rate=0.1, conv_only=bad)


def small_cnn(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="relu"),
            keras.layers.Dense(3),
        ]
    )


def kernel_unit_means(model):
    return [unit_means(ops.convert_to_numpy(w)) for w in model.trainable_weights if w.ndim > 1]


def regression_batch(seed=0, n=16):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n, 8, 8, 2)).astype("float32"),
        rng.normal(2.0, size=(n, 3)).astype("float32"),
    )


@pytest.mark.parametrize("gc", [True, False])
def test_sgd_with_gc_keeps_each_units_weight_mean_fixed(gc):
    """The paper's constraint: with SGD + GC, each output unit's weight mean is invariant."""
    model = small_cnn()
    model.compile(
        optimizer=make_optimizer("sgd", gc=gc, learning_rate=0.05, momentum=0.9), loss="mse"
    )
    before = kernel_unit_means(model)
    x, y = regression_batch()
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False)
    drift = max(np.abs(a - b).max() for a, b in zip(before, kernel_unit_means(model)))
    if gc:
        assert drift < 1e-5
    else:
        assert drift > 1e-3


def linear_model(weights):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, use_bias=False)])
    model.set_weights([weights])
    return model


def test_gc_sgd_step_equals_hand_computed_update_and_differs_from_plain_sgd():
    rng = np.random.default_rng(4)
    w0 = rng.normal(size=(4, 3)).astype("float32")
    x = rng.normal(size=(8, 4)).astype("float32")
    t = rng.normal(1.0, size=(8, 3)).astype("float32")
    lr = 0.1
    # Keras's MSE is the mean over all elements: dL/dW = 2 x^T (xW - t) / (batch * out).
    grad = 2.0 * x.T @ (x @ w0 - t) / t.size
    expected = w0 - lr * (grad - grad.mean(axis=0, keepdims=True))

    trained = {}
    for gc in (True, False):
        model = linear_model(w0)
        model.compile(optimizer=make_optimizer("sgd", gc=gc, learning_rate=lr), loss="mse")
        model.train_on_batch(x, t)
        trained[gc] = ops.convert_to_numpy(model.get_weights()[0])
    np.testing.assert_allclose(trained[True], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trained[False], w0 - lr * grad, rtol=1e-5, atol=1e-6)
    assert np.abs(trained[True] - trained[False]).max() > 1e-3


@pytest.mark.parametrize("gc_class", GC_CLASSES)
def test_gc_optimizer_and_plain_twin_diverge_from_identical_start(gc_class):
    plain_class = gc_class.__mro__[2]
    x, y = regression_batch(5)
    final = []
    for optimizer in (gc_class(learning_rate=0.01), plain_class(learning_rate=0.01)):
        model = small_cnn(seed=7)
        model.compile(optimizer=optimizer, loss="mse")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
        final.append(model.get_weights())
    assert max(np.abs(a - b).max() for a, b in zip(*final)) > 1e-4


def test_gc_classes_take_the_keras_arguments_plus_conv_only():
    for gc_class in GC_CLASSES:
        keras_class = gc_class.__mro__[2]
        gc_params = inspect.signature(gc_class).parameters
        keras_params = list(inspect.signature(keras_class.__init__).parameters)[1:]
        assert set(keras_params) <= set(gc_params)
        assert gc_params["conv_only"].default is False
    assert GCRMSprop(0.02, 0.8).rho == pytest.approx(0.8)  # positional, as in Keras


def test_make_optimizer_builds_the_named_class():
    for name, (plain_class, gc_class) in OPTIMIZERS.items():
        assert type(make_optimizer(name, gc=False, learning_rate=0.1)) is plain_class
        optimizer = make_optimizer(name.upper(), gc=True, learning_rate=0.1, conv_only=True)
        assert type(optimizer) is gc_class and optimizer.conv_only is True
    assert make_optimizer("sgd", gc=True, learning_rate=0.1, momentum=0.5).momentum == 0.5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "adagrad"}, "known optimizers: sgd, rmsprop, adam, adamw"),
        ({"name": 3}, "Unknown optimizer"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"learning_rate": "0.1"}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"gc": "yes"}, "gc"),
        ({"gc": False, "conv_only": True}, "conv_only=True` needs `gc=True"),
    ],
)
def test_make_optimizer_rejects_bad_input(kwargs, message):
    arguments = {"name": "sgd", "gc": True, "learning_rate": 0.1, **kwargs}
    name = arguments.pop("name")
    with pytest.raises(ValueError, match=message):
        make_optimizer(name, **arguments)


@pytest.mark.parametrize("gc_class", GC_CLASSES)
def test_config_round_trip(gc_class):
    optimizer = gc_class(learning_rate=0.03, conv_only=True, clipnorm=1.5)
    config = optimizer.get_config()
    assert config["conv_only"] is True
    restored = gc_class.from_config(config)
    assert type(restored) is gc_class and restored.conv_only is True
    assert restored.get_config() == config
    via_keras = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(via_keras) is gc_class and via_keras.get_config() == config


def test_saved_model_restores_gc_optimizer_with_its_state(tmp_path):
    model = small_cnn()
    model.compile(optimizer=GCRMSprop(learning_rate=0.01, conv_only=True), loss="mse")
    x, y = regression_batch()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer) is GCRMSprop and loaded.optimizer.conv_only is True
    assert int(ops.convert_to_numpy(loaded.optimizer.iterations)) == 2
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(ops.convert_to_numpy(saved), ops.convert_to_numpy(restored))
    # Training goes on from the restored state exactly as it would have from the original.
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def one_sgd_update(optimizer, w0, grad):
    variable = keras.Variable(w0)
    optimizer.apply([ops.convert_to_tensor(grad)], [variable])
    return w0 - ops.convert_to_numpy(variable)


@pytest.mark.parametrize("clip", [{"clipnorm": 0.5}, {"global_clipnorm": 0.5}])
def test_gc_is_applied_before_clipping(clip):
    rng = np.random.default_rng(6)
    w0 = rng.normal(size=(6, 4)).astype("float32")
    grad = rng.normal(5.0, size=(6, 4)).astype("float32")
    step = one_sgd_update(GCSGD(learning_rate=1.0, **clip), w0, grad)
    centred = grad - grad.mean(axis=0)
    np.testing.assert_allclose(step, centred * 0.5 / np.linalg.norm(centred), rtol=1e-5, atol=1e-6)


def test_gradient_accumulation_applies_the_centralized_average():
    rng = np.random.default_rng(7)
    w0 = rng.normal(size=(5, 3)).astype("float32")
    grads = [rng.normal(2.0, size=(5, 3)).astype("float32") for _ in range(2)]
    optimizer = GCSGD(learning_rate=0.1, gradient_accumulation_steps=2)
    variable = keras.Variable(w0)
    optimizer.apply([ops.convert_to_tensor(grads[0])], [variable])
    np.testing.assert_array_equal(ops.convert_to_numpy(variable), w0)  # accumulating
    optimizer.apply([ops.convert_to_tensor(grads[1])], [variable])
    mean_grad = (grads[0] + grads[1]) / 2
    expected = w0 - 0.1 * (mean_grad - mean_grad.mean(axis=0))
    np.testing.assert_allclose(ops.convert_to_numpy(variable), expected, rtol=1e-5, atol=1e-6)


def test_mixed_precision_loss_scaling_keeps_the_gc_constraint():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = small_cnn()
        model.compile(optimizer=GCSGD(learning_rate=0.05), loss="mse")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    before = kernel_unit_means(model)
    x, y = regression_batch()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    after = kernel_unit_means(model)
    assert max(np.abs(a - b).max() for a, b in zip(before, after)) < 1e-5
    changed = [w for w in model.get_weights() if w.ndim > 1]
    assert not np.allclose(changed[0], small_cnn().get_weights()[0])
