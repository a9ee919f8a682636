"""Gradient Centralization: the operation, the optimizers, and their Keras plumbing.

Runs on whichever backend KERAS_BACKEND selects; CI runs it on TensorFlow, JAX and PyTorch.
"""

import doctest
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

import gc_tutorial.centralization
import gc_tutorial.optimizers
import gc_tutorial.update_mode
from gc_tutorial import (
    GCSGD,
    GCAdam,
    GCAdamW,
    GCRMSprop,
    GradientCentralization,
    centralize_gradient,
    make_optimizer,
)
from gc_tutorial.checks import not_in_this_keras
from gc_tutorial.optimizers import GC_OPTIMIZERS, OPTIMIZERS

GC_CLASSES = list(GC_OPTIMIZERS)
ALL_KERAS_NAMES = [
    "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl",
    "Lamb", "Lion", "Muon", "Nadam", "RMSprop", "SGD", "ScheduleFreeAdamW",
]  # fmt: skip
KERAS_NAMES = [name for name in ALL_KERAS_NAMES if not_in_this_keras(name.lower()) is None]
# Optimizers that older Keras releases lack: their tests run where the installed Keras has them.
NEEDS_MUON = pytest.mark.skipif(not_in_this_keras("muon") is not None, reason="Keras < 3.13")
NEEDS_SCHEDULE_FREE = pytest.mark.skipif(
    not_in_this_keras("schedulefreeadamw") is not None, reason="Keras < 3.14"
)
KERNEL_SHAPES = [(5, 3), (3, 4, 2), (3, 3, 4, 6), (2, 2, 2, 3, 4)]
ROOT = Path(__file__).parents[1]


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


@pytest.mark.parametrize("centralize", ["gradient", "update"])
def test_conv_only_optimizer_centralizes_conv1d_kernels_and_leaves_dense_kernels(centralize):
    """A Conv1D kernel has rank 3: `conv_only` centralizes it (the paper's code, `dim > 3`, not)."""
    rng = np.random.default_rng(14)
    conv1d, dense = (rng.normal(size=shape).astype("float32") for shape in [(3, 4, 2), (5, 3)])
    grads = [rng.normal(1.0, size=w.shape).astype("float32") for w in (conv1d, dense)]
    optimizer = GCSGD(learning_rate=1.0, conv_only=True, centralize=centralize)
    variables = [keras.Variable(conv1d), keras.Variable(dense)]
    optimizer.apply([ops.convert_to_tensor(g) for g in grads], variables)
    conv1d_step, dense_step = (
        w - ops.convert_to_numpy(v) for w, v in zip((conv1d, dense), variables)
    )
    np.testing.assert_allclose(conv1d_step, centred(grads[0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dense_step, grads[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_conv_only_must_be_a_bool(bad):
    with pytest.raises(ValueError, match="conv_only"):
        centralize_gradient(ops.ones((2, 2)), conv_only=bad)
    with pytest.raises(ValueError, match="conv_only"):
        GCSGD(conv_only=bad)
    with pytest.raises(ValueError, match="conv_only"):
        make_optimizer("sgd", gc=True, learning_rate=0.1, conv_only=bad)


@pytest.mark.parametrize("bad", ["updates", "Gradient", None, 1])
def test_centralize_must_be_gradient_or_update(bad):
    message = f"`centralize` must be one of 'gradient', 'update'. Received: centralize={bad!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        GCAdam(centralize=bad)
    with pytest.raises(ValueError, match="centralize"):
        make_optimizer("adam", gc=True, learning_rate=0.1, centralize=bad)


def test_numpy_arrays_are_centralized_into_backend_tensors():
    grad = np.array([[1.0, 2.0], [3.0, 6.0]], dtype="float32")
    result = centralize_gradient(grad)
    assert ops.is_tensor(result)
    np.testing.assert_array_equal(ops.convert_to_numpy(result), [[-1.0, -2.0], [1.0, 2.0]])


def test_docstring_examples_run():
    attempted = 0
    for module in (gc_tutorial.centralization, gc_tutorial.update_mode, gc_tutorial.optimizers):
        results = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert results.failed == 0, module.__name__
        attempted += results.attempted
    assert attempted >= 8  # centralize_gradient's, the module's and make_optimizer's examples


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_importing_the_optimizers_is_quiet_and_loads_tensorflow_only_as_the_backend(backend):
    """`from gc_tutorial import GCAdam` loads Keras and the GC code: TensorFlow only when it is
    Keras's backend, and then without its start-up logs."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    code = "import sys; from gc_tutorial import GCAdam; print('tensorflow' in sys.modules)"
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [str(backend == "tensorflow")]
    assert result.stderr == ""


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


def test_gc_runs_inside_a_compiled_training_step():
    """jit_compile=True: XLA on TensorFlow, torch.compile on PyTorch (JAX always compiles)."""
    model = small_cnn()
    model.compile(
        optimizer=make_optimizer("sgd", gc=True, learning_rate=0.05, momentum=0.9),
        loss="mse",
        jit_compile=True,
    )
    before = kernel_unit_means(model)
    x, y = regression_batch()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    drift = max(np.abs(a - b).max() for a, b in zip(before, kernel_unit_means(model)))
    assert drift < 1e-5


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


def kernel_and_bias(seed):
    """A Dense-like kernel, a bias and gradients for them whose unit means are far from 0."""
    rng = np.random.default_rng(seed)
    values = [rng.normal(size=(5, 3)), rng.normal(size=(3,))]
    grads = [rng.normal(1.0, size=(5, 3)), rng.normal(size=(3,))]
    return [v.astype("float32") for v in values], [g.astype("float32") for g in grads]


def run_steps(optimizer, values, grads_per_step):
    variables = [keras.Variable(v, name=f"w{i}") for i, v in enumerate(values)]
    for grads in grads_per_step:
        optimizer.apply([ops.convert_to_tensor(g) for g in grads], variables)
    return [ops.convert_to_numpy(v) for v in variables]


def centred(array):
    return array - array.mean(axis=tuple(range(array.ndim - 1)), keepdims=True)


@pytest.mark.parametrize("gc_class", GC_CLASSES, ids=lambda c: c.__name__)
def test_gradient_mode_is_the_keras_optimizer_fed_centralized_gradients(gc_class):
    plain_class = OPTIMIZERS[gc_class.__name__[2:].lower()][0]
    values, grads = kernel_and_bias(8)
    later = [g * 0.5 + 0.3 for g in grads]
    twin = run_steps(gc_class(learning_rate=0.05), values, [grads, later])
    fed = [[centred(g) if g.ndim > 1 else g for g in step] for step in (grads, later)]
    plain_on_centred = run_steps(plain_class(learning_rate=0.05), values, fed)
    plain = run_steps(plain_class(learning_rate=0.05), values, [grads, later])
    for got, expected in zip(twin, plain_on_centred):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(twin[0] - plain[0]).max() > 1e-4  # GC changed the kernel's steps
    np.testing.assert_allclose(twin[1], plain[1], rtol=1e-5, atol=1e-6)  # not the bias's


@pytest.mark.parametrize("gc_class", GC_CLASSES, ids=lambda c: c.__name__)
def test_update_mode_is_the_keras_step_centralized(gc_class):
    plain_class = OPTIMIZERS[gc_class.__name__[2:].lower()][0]
    values, grads = kernel_and_bias(9)
    twin = run_steps(gc_class(learning_rate=0.05, centralize="update"), values, [grads])
    plain = run_steps(plain_class(learning_rate=0.05), values, [grads])
    step = np.abs(plain[0] - values[0]).max()  # Adadelta's steps are ~1e-4, Lion's 0.05
    tolerance = 1e-3 * step + 1e-7
    np.testing.assert_allclose(twin[0], values[0] + centred(plain[0] - values[0]), atol=tolerance)
    np.testing.assert_allclose(unit_means(twin[0]), unit_means(values[0]), atol=tolerance)
    assert np.abs(unit_means(plain[0]) - unit_means(values[0])).max() > 0.01 * step
    np.testing.assert_allclose(twin[1], plain[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("centralize", ["gradient", "update"])
@pytest.mark.parametrize("gc_class", GC_CLASSES, ids=lambda c: c.__name__)
def test_numpy_gradients_step_like_tensors(gc_class, centralize):
    values, grads = kernel_and_bias(10)
    results = []
    for as_array in (np.asarray, ops.convert_to_tensor):
        optimizer = gc_class(learning_rate=0.05, centralize=centralize)
        variables = [keras.Variable(v) for v in values]
        optimizer.apply_gradients([(as_array(g), v) for g, v in zip(grads, variables)])
        results.append([ops.convert_to_numpy(v) for v in variables])
    for from_numpy, from_tensor in zip(*results):
        np.testing.assert_allclose(from_numpy, from_tensor, rtol=1e-6, atol=1e-7)
    assert np.abs(results[0][0] - values[0]).max() > 1e-5


def test_the_mixin_alone_gives_gc_on_the_gradient_to_any_keras_optimizer():
    class MySGD(GradientCentralization, keras.optimizers.SGD):
        pass

    values, grads = kernel_and_bias(15)
    mine = run_steps(MySGD(learning_rate=0.1, momentum=0.5), values, [grads, grads])
    twin = run_steps(GCSGD(learning_rate=0.1, momentum=0.5), values, [grads, grads])
    rounding = 1e-6 if keras.backend.backend() == "torch" else 0.0  # GCSGD: Keras's fused SGD
    for a, b in zip(mine, twin, strict=True):
        np.testing.assert_allclose(a, b, rtol=rounding, atol=rounding / 10)
    config = MySGD(learning_rate=0.1, conv_only=True).get_config()
    assert config["conv_only"] is True and MySGD.from_config(config).conv_only is True


def test_a_registered_twin_for_every_keras_optimizer():
    assert [c.__name__ for c in GC_CLASSES] == [f"GC{name}" for name in KERAS_NAMES]
    assert list(OPTIMIZERS) == [name.lower() for name in KERAS_NAMES]
    for name in KERAS_NAMES:
        plain_class, gc_class = OPTIMIZERS[name.lower()]
        assert plain_class is getattr(keras.optimizers, name)
        assert getattr(gc_tutorial, f"GC{name}") is gc_class
        assert issubclass(gc_class, plain_class)
        assert keras.saving.get_registered_object(f"gc_tutorial>GC{name}") is gc_class
        assert f"`keras.optimizers.{name}` with Gradient Centralization" in gc_class.__doc__
        assert "centralize" in gc_class.__doc__ and "conv_only" in gc_class.__doc__


def test_gc_classes_take_the_keras_arguments_plus_conv_only_and_centralize():
    for gc_class in GC_CLASSES:
        keras_class = getattr(keras.optimizers, gc_class.__name__[2:])
        gc_params = inspect.signature(gc_class).parameters
        keras_params = list(inspect.signature(keras_class.__init__).parameters)[1:]
        assert list(gc_params)[: len(keras_params) - 1] == keras_params[:-1]  # up to **kwargs
        assert gc_params["conv_only"].default is False
        assert gc_params["centralize"].default == "gradient"
    assert GCRMSprop(0.02, 0.8).rho == pytest.approx(0.8)  # positional, as in Keras


@NEEDS_MUON
@NEEDS_SCHEDULE_FREE
def test_special_cases_say_what_gc_does_there():
    from gc_tutorial.optimizers import GCMuon, GCScheduleFreeAdamW

    assert "Newton-Schulz" in GCMuon.__doc__ and "AdamW step" in GCMuon.__doc__
    assert "average x" in GCScheduleFreeAdamW.__doc__
    assert GCScheduleFreeAdamW.weight_space_slots == ("_momentums",)


def test_make_optimizer_builds_the_named_class_in_any_case():
    for name in KERAS_NAMES:
        plain_class, gc_class = OPTIMIZERS[name.lower()]
        # isinstance: on PyTorch, Keras builds a fused subclass of some of its optimizers.
        assert isinstance(make_optimizer(name, gc=False, learning_rate=0.1), plain_class)
        optimizer = make_optimizer(
            name.upper(), gc=True, learning_rate=0.1, conv_only=True, centralize="update"
        )
        assert type(optimizer) is gc_class
        assert optimizer.conv_only is True and optimizer.centralize == "update"
    assert make_optimizer("sgd", gc=True, learning_rate=0.1, momentum=0.5).momentum == 0.5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"name": "adabelief"},
            "`name` must be a Keras optimizer's name, in any case: adadelta, adafactor, adagrad, "
            "adam, adamw, adamax, ftrl, lamb, lion, muon, nadam, rmsprop, sgd, schedulefreeadamw. "
            "Received: name='adabelief'",
        ),
        ({"name": 3}, "`name` must be a Keras optimizer's name"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"learning_rate": "0.1"}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"gc": "yes"}, "gc"),
        (
            {"gc": False, "conv_only": True},
            "they need `gc=True`. Received: gc=False, conv_only=True",
        ),
        ({"gc": False, "centralize": "update"}, "centralize='update'"),
    ],
)
def test_make_optimizer_rejects_bad_input(kwargs, message):
    arguments = {"name": "sgd", "gc": True, "learning_rate": 0.1, **kwargs}
    name = arguments.pop("name")
    with pytest.raises(ValueError, match=message):
        make_optimizer(name, **arguments)


@pytest.mark.parametrize("gc_class", GC_CLASSES, ids=lambda c: c.__name__)
def test_config_round_trip(gc_class):
    optimizer = gc_class(learning_rate=0.03, conv_only=True, centralize="update", clipnorm=1.5)
    config = optimizer.get_config()
    assert config["conv_only"] is True and config["centralize"] == "update"
    restored = gc_class.from_config(config)
    assert type(restored) is gc_class and restored.conv_only is True
    assert restored.centralize == "update"
    assert restored.get_config() == config
    via_keras = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(via_keras) is gc_class and via_keras.get_config() == config


@pytest.mark.parametrize("centralize", ["gradient", "update"])
def test_saved_model_restores_gc_optimizer_with_its_state(tmp_path, centralize):
    model = small_cnn()
    model.compile(
        optimizer=GCRMSprop(learning_rate=0.01, conv_only=True, centralize=centralize), loss="mse"
    )
    x, y = regression_batch()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer) is GCRMSprop and loaded.optimizer.conv_only is True
    assert loaded.optimizer.centralize == centralize
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


def test_clipvalue_clips_the_centralized_gradient_entry_by_entry():
    """The documented order: GC first, then `clipvalue`, so the step is not centralized."""
    grad = np.array([[3.0], [0.0], [0.0]], dtype="float32")
    w0 = np.zeros((3, 1), dtype="float32")
    step = one_sgd_update(GCSGD(learning_rate=1.0, clipvalue=1.0), w0, grad)
    np.testing.assert_allclose(step, np.clip(grad - grad.mean(axis=0), -1.0, 1.0), atol=1e-6)
    assert abs(step.mean()) > 0.1


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


@pytest.mark.parametrize("gc_class", [GCSGD, GCAdam], ids=lambda c: c.__name__)
def test_mixed_precision_loss_scaling_keeps_the_gc_constraint(gc_class):
    """GCSGD keeps unit means with GC on the gradient; GCAdam needs it on the update."""
    centralize = "gradient" if gc_class is GCSGD else "update"
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = small_cnn()
        model.compile(optimizer=gc_class(learning_rate=0.05, centralize=centralize), loss="mse")
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


def unit_mean_drift(model, before):
    return max(np.abs(a - b).max() for a, b in zip(before, kernel_unit_means(model)))


@pytest.mark.parametrize(
    "name, kwargs", [("adam", {}), ("adamw", {"weight_decay": 0.5})], ids=["Adam", "AdamW"]
)
@pytest.mark.parametrize("centralize", ["gradient", "update"])
def test_update_mode_keeps_unit_means_fixed_and_gradient_mode_does_not(name, kwargs, centralize):
    model = small_cnn()
    optimizer = make_optimizer(name, gc=True, learning_rate=0.01, centralize=centralize, **kwargs)
    model.compile(optimizer=optimizer, loss="mse")
    before = kernel_unit_means(model)
    x, y = regression_batch()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    if centralize == "update":
        assert unit_mean_drift(model, before) < 1e-6
    else:
        assert unit_mean_drift(model, before) > 1e-3
    assert not np.allclose(model.get_weights()[0], small_cnn().get_weights()[0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gradient_accumulation_steps": 2},
        {"use_ema": True, "ema_momentum": 0.5},
        {"use_ema": True, "ema_overwrite_frequency": 2},
        {"loss_scale_factor": 128.0, "clipnorm": 0.1},
    ],
    ids=["accumulation", "ema", "ema-overwrite", "loss-scale-clip"],
)
def test_update_mode_keeps_unit_means_with_keras_options(kwargs):
    model = small_cnn()
    model.compile(
        optimizer=GCAdamW(learning_rate=0.01, weight_decay=0.5, centralize="update", **kwargs),
        loss="mse",
    )
    before = kernel_unit_means(model)
    x, y = regression_batch()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    assert unit_mean_drift(model, before) < 1e-6
    assert not np.allclose(model.get_weights()[0], small_cnn().get_weights()[0])
    if kwargs.get("use_ema"):  # fit() ends by copying the average into the model
        averages = model.optimizer._model_variables_moving_average
        np.testing.assert_allclose(ops.convert_to_numpy(averages[0]), model.get_weights()[0])


def test_update_mode_accumulating_step_changes_nothing():
    values, grads = kernel_and_bias(11)
    optimizer = GCAdam(learning_rate=0.1, gradient_accumulation_steps=2, centralize="update")
    variables = [keras.Variable(v) for v in values]
    optimizer.apply([ops.convert_to_tensor(g) for g in grads], variables)
    for variable, value in zip(variables, values):
        np.testing.assert_array_equal(ops.convert_to_numpy(variable), value)
    optimizer.apply([ops.convert_to_tensor(g) for g in grads], variables)
    kernel = ops.convert_to_numpy(variables[0])
    assert np.abs(kernel - values[0]).max() > 1e-3
    np.testing.assert_allclose(unit_means(kernel), unit_means(values[0]), atol=1e-6)


@pytest.mark.parametrize("centralize", ["gradient", "update"])
def test_conv_only_applies_to_both_modes(centralize):
    model = small_cnn()
    model.compile(
        optimizer=GCAdam(learning_rate=0.01, conv_only=True, centralize=centralize), loss="mse"
    )
    model.fit(*regression_batch(), batch_size=4, epochs=1, verbose=0, shuffle=False)
    trained = [w for w in model.get_weights() if w.ndim > 1]
    initial = [w for w in small_cnn().get_weights() if w.ndim > 1]
    conv_drift, *dense_drifts = (
        np.abs(unit_means(a) - unit_means(b)).max() for a, b in zip(trained, initial)
    )
    assert min(dense_drifts) > 1e-4  # Dense kernels: plain Adam
    if centralize == "update":
        assert conv_drift < 1e-6
    else:
        assert conv_drift > 1e-4  # Adam rescales the centralized gradient


def momentum_slot_drift(optimizer, variable, start):
    slot = optimizer._momentums[optimizer._get_variable_index(variable)]
    return np.abs(unit_means(ops.convert_to_numpy(slot)) - unit_means(start)).max()


@NEEDS_SCHEDULE_FREE
@pytest.mark.parametrize("centralize", ["gradient", "update"])
def test_schedule_free_update_mode_centralizes_the_base_sequence_too(centralize):
    from gc_tutorial.optimizers import GCScheduleFreeAdamW

    values, grads = kernel_and_bias(12)
    optimizer = GCScheduleFreeAdamW(learning_rate=0.05, centralize=centralize)
    variables = [keras.Variable(v) for v in values]
    for scale in (1.0, 0.5, -0.7):
        optimizer.apply([ops.convert_to_tensor(g * scale + 0.2) for g in grads], variables)
    kernel_drift = np.abs(unit_means(ops.convert_to_numpy(variables[0])) - unit_means(values[0]))
    slot_drift = momentum_slot_drift(optimizer, variables[0], values[0])
    if centralize == "update":
        assert kernel_drift.max() < 1e-6 and slot_drift < 1e-6
    else:
        assert kernel_drift.max() > 1e-4 and slot_drift > 1e-4


@NEEDS_MUON
@pytest.mark.parametrize(
    "weight_decay, centralize, fixed",
    [(0.0, "gradient", True), (0.5, "gradient", False), (0.5, "update", True)],
)
def test_muon_step_on_a_centralized_gradient_keeps_unit_means(weight_decay, centralize, fixed):
    """Newton-Schulz keeps zero column means, so GC on the gradient centralizes Muon's step."""
    from gc_tutorial.optimizers import GCMuon

    values, grads = kernel_and_bias(13)
    optimizer = GCMuon(learning_rate=0.05, weight_decay=weight_decay, centralize=centralize)
    kernel = keras.Variable(values[0], name="kernel")
    assert not optimizer._should_use_adamw(kernel)  # a 2-D weight on Muon's own path
    for step_grad in (grads[0], grads[0][::-1] + 0.5):
        optimizer.apply([ops.convert_to_tensor(step_grad)], [kernel])
    trained = ops.convert_to_numpy(kernel)
    assert np.abs(trained - values[0]).max() > 1e-3
    drift = np.abs(unit_means(trained) - unit_means(values[0])).max()
    assert (drift < 1e-5) if fixed else (drift > 1e-3)


def test_a_twin_this_keras_lacks_is_absent_and_names_the_keras_that_adds_it(monkeypatch):
    import gc_tutorial.checks

    monkeypatch.setattr(gc_tutorial.checks, "keras_version", lambda: (3, 9))
    monkeypatch.setattr(gc_tutorial.optimizers, "OPTIMIZERS", {**OPTIMIZERS})
    gc_tutorial.optimizers.OPTIMIZERS.pop("muon", None)
    with pytest.raises(AttributeError, match="GCMuon is not available: it needs keras.optimizers"):
        gc_tutorial.optimizers.GCMuon  # noqa: B018
    assert not hasattr(gc_tutorial, "GCMuon")
    with pytest.raises(ValueError, match=r"Muon of Keras 3\.13 or later; this Keras is"):
        make_optimizer("Muon", gc=True, learning_rate=0.1)
    assert not_in_this_keras("adam") is None and not_in_this_keras("lion") is None
