"""The example's CNN: architecture, parameter count, small inputs, bad input."""

import keras
import pytest

from gc_tutorial.model import SMALLEST_IMAGE_SIZE, build_model, loss_for


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


@pytest.mark.parametrize("size", [SMALLEST_IMAGE_SIZE, 16, 32, 64, 150])
def test_small_inputs_still_build_and_run(size):
    model = build_model((size, size, 3))
    assert model.predict(keras.ops.zeros((2, size, size, 3)), verbose=0).shape == (2, 1)


def test_more_classes_get_a_softmax():
    model = build_model((32, 32, 3), num_classes=5)
    assert model.output_shape == (None, 5)
    assert model.layers[-1].activation.__name__ == "softmax"
    assert loss_for(5) == "sparse_categorical_crossentropy" and loss_for(2) == "binary_crossentropy"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (10, 10, 3)}, "smallest size that works is 11x11"),
        ({"input_shape": (32, 32)}, "height, width, channels"),
        ({"input_shape": (32, 32.0, 3)}, "positive ints"),
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": True}, "num_classes"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model(**{"input_shape": (32, 32, 3), **kwargs})
