"""The `precision` setting: mixed bfloat16 computes in bfloat16, GC stays exact on float32."""

import keras
import numpy as np
import pytest

from gc_tutorial import make_optimizer
from gc_tutorial.comparison import dtype_policy, float32_output, train_arm
from gc_tutorial.config import ComparisonConfig


def small_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.layers.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    return float32_output(model)


def unit_mean_changes(gc: bool) -> list[np.ndarray]:
    """Per-output-unit mean of each kernel's change after one SGD step under mixed_bfloat16."""
    rng = np.random.default_rng(0)
    images = rng.random((16, 8, 8, 3), dtype="float32")
    labels = rng.integers(0, 2, 16).astype("float32")
    with dtype_policy("mixed_bfloat16"):
        model = small_model()
        assert model.layers[0].compute_dtype == "bfloat16"
        model.compile(
            optimizer=make_optimizer("sgd", gc=gc, learning_rate=0.5), loss="binary_crossentropy"
        )
        kernels = [w for w in model.trainable_weights if len(w.shape) > 1]
        assert all(w.dtype == "float32" for w in kernels)
        before = [w.numpy().copy() for w in kernels]
        model.train_on_batch(images, labels)
        after = [w.numpy() for w in kernels]
    return [(new - old).mean(axis=tuple(range(old.ndim - 1))) for old, new in zip(before, after)]


def test_gc_keeps_unit_means_of_float32_weights_under_mixed_bfloat16():
    gc_changes = unit_mean_changes(gc=True)
    plain_changes = unit_mean_changes(gc=False)
    for gc_change, plain_change in zip(gc_changes, plain_changes):
        # The step moved the weights (plain SGD moves the unit means), GC kept them.
        assert np.abs(plain_change).max() > 1e-4
        np.testing.assert_allclose(gc_change, 0.0, atol=1e-7)


def test_dtype_policy_is_restored_after_the_block_even_on_error():
    before = keras.config.dtype_policy().name
    with pytest.raises(RuntimeError):
        with dtype_policy("mixed_bfloat16"):
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError("stop")
    assert keras.config.dtype_policy().name == before


def test_output_layer_computes_in_float32_under_mixed_policy():
    with dtype_policy("mixed_bfloat16"):
        model = small_model()
        output = model(np.zeros((2, 8, 8, 3), "float32"))
    assert model.layers[-2].compute_dtype == "bfloat16"
    assert model.layers[-1].compute_dtype == "float32"
    assert keras.backend.standardize_dtype(output.dtype) == "float32"


def test_train_arm_under_mixed_bfloat16_learns_and_restores_the_policy():
    config = ComparisonConfig(
        dataset="digits",
        image_size=16,
        batch_size=32,
        epochs=2,
        learning_rate=1e-3,
        seeds=(0,),
        augment=False,
        max_examples=256,
        precision="mixed_bfloat16",
    )
    rows = train_arm("gc", 0, config, verbose=0).rows
    assert keras.config.dtype_policy().name == "float32"
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert all(np.isfinite(row["test_loss"]) for row in rows)


@pytest.mark.parametrize("precision", ["float16", "mixed_float16", "bfloat16", None])
def test_unknown_precision_is_refused(precision):
    with pytest.raises(ValueError, match="`precision` must be one of 'float32', 'mixed_bfloat16'"):
        ComparisonConfig(precision=precision)


def test_precision_round_trips_and_has_a_flag():
    config = ComparisonConfig(precision="mixed_bfloat16")
    assert ComparisonConfig.from_config(config.get_config()) == config
    assert ComparisonConfig().precision == "float32"
    assert config.identity() != ComparisonConfig().identity()


def test_command_line_flag_sets_precision():
    import argparse

    from gc_tutorial.command_line import add_config_arguments, config_from_arguments

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    arguments = parser.parse_args(["--precision", "mixed_bfloat16"])
    assert config_from_arguments(arguments).precision == "mixed_bfloat16"
