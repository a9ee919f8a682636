"""The example's CNN: architecture, parameter count, small inputs, bad input."""

import random

import keras
import numpy as np
import pytest

from gc_tutorial.checks import SMALLEST_IMAGE_SIZE
from gc_tutorial.model import build_model, loss_for, pooled_convolutions


def test_example_architecture_and_parameter_count_at_300():
    model = build_model((300, 300, 3), num_classes=2)
    assert model.count_params() == 1_704_097
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == (
        ["Conv2D", "MaxPooling2D", "Conv2D", "Dropout", "MaxPooling2D", "Conv2D", "Dropout"]
        + ["MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D"]
        + ["Flatten", "Dropout", "Dense", "Dense"]
    )
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [16, 32, 64, 64, 64]
    assert all(c.kernel_size == (3, 3) and c.activation.__name__ == "relu" for c in convs)
    assert all(d.rate == 0.5 for d in model.layers if isinstance(d, keras.layers.Dropout))
    assert model.layers[-2].units == 512 and model.layers[-1].activation.__name__ == "sigmoid"
    assert model.output_shape == (None, 1)


@pytest.mark.parametrize(
    "size, pooled, last_conv",
    [
        (SMALLEST_IMAGE_SIZE, [False] * 5, 1),
        # worked by hand: a 3x3 conv takes 2 pixels, a pooling halves, and a pooling is
        # kept when the convolutions still to come fit (size // 2 >= 2 * remaining + 1)
        (16, [False, False, True, False, False], 1),
        (32, [True, False, True, False, False], 1),
        (64, [True, True, True, False, True], 2),
        (150, [True] * 5, 5),
        (300, [True] * 5, 14),
    ],
)
def test_small_inputs_keep_the_poolings_that_fit(size, pooled, last_conv):
    assert pooled_convolutions(size) == pooled
    model = build_model((size, size, 3))
    poolings = [type(layer).__name__ for layer in model.layers].count("MaxPooling2D")
    assert poolings == sum(pooled)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [16, 32, 64, 64, 64]
    assert convs[-1].output.shape[1:3] == (last_conv, last_conv)
    images = keras.random.uniform((3, size, size, 3), seed=0)
    probabilities = keras.ops.convert_to_numpy(model(images, training=False))
    assert probabilities.shape == (3, 1) and ((probabilities > 0) & (probabilities < 1)).all()


def test_more_classes_get_a_softmax():
    model = build_model((32, 32, 3), num_classes=5)
    assert model.output_shape == (None, 5)
    assert model.layers[-1].activation.__name__ == "softmax"
    assert loss_for(5) == "sparse_categorical_crossentropy" and loss_for(2) == "binary_crossentropy"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (10, 10, 3)}, r"must be at least 11x11.*input_shape=\(10, 10, 3\)"),
        ({"input_shape": (32, 32)}, "height, width, channels"),
        ({"input_shape": (32, 32.0, 3)}, "positive ints"),
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": True}, "num_classes"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model(**{"input_shape": (32, 32, 3), **kwargs})


def test_a_seeded_model_ignores_the_global_random_and_matches_keras_defaults():
    keras.utils.set_random_seed(5)
    by_keras = build_model((16, 16, 3), num_classes=10)  # Keras draws its seeds from `random`
    random.seed()  # another value, as another thread would leave it
    seeded = build_model((16, 16, 3), num_classes=10, seed=5)
    for expected, weight in zip(by_keras.get_weights(), seeded.get_weights(), strict=True):
        np.testing.assert_array_equal(weight, expected)
    dropout_seeds = [
        layer.seed for layer in seeded.layers if isinstance(layer, keras.layers.Dropout)
    ]
    assert len(dropout_seeds) == 3 and all(isinstance(seed, int) for seed in dropout_seeds)
    assert build_model((16, 16, 3), num_classes=10, seed=6).get_weights()[0].tolist() != (
        seeded.get_weights()[0].tolist()
    )
