"""The Keras example's CNN: layer for layer at its 300x300 (and down to 94x94); smaller inputs,
down to 11x11, keep fewer of its 2x2 max-poolings (`pooled_convolutions`)."""

from __future__ import annotations

import random

from gc_tutorial._quiet_tensorflow import load_keras_quietly
from gc_tutorial.checks import SMALLEST_IMAGE_SIZE, fail

load_keras_quietly()  # before Keras's first import: TensorFlow's start-up logs stay out
import keras  # noqa: E402
from keras import layers  # noqa: E402

CONV_FILTERS = (16, 32, 64, 64, 64)
# Dropout(0.5) follows the 2nd and 3rd convolutions, as in the example.
DROPOUT_AFTER_CONV = (1, 2)


def pooled_convolutions(image_size: int) -> list[bool]:
    """For each convolution, whether its 2x2 max-pooling is kept at this input size: dropped
    where it would leave too few pixels for the convolutions to come (kept all at 300x300)."""
    size, keep = image_size, []
    for index in range(len(CONV_FILTERS)):
        size -= 2  # a 3x3 'valid' convolution
        remaining_convolutions = len(CONV_FILTERS) - index - 1
        pool = size // 2 >= 2 * remaining_convolutions + 1
        size = size // 2 if pool else size
        keep.append(pool)
    return keep


def build_model(
    input_shape=(300, 300, 3), num_classes: int = 2, seed: int | None = None
) -> keras.Sequential:
    """The example's CNN: five Conv2D 3x3 ReLU (16/32/64/64/64) with 2x2 max-pooling,
    Dropout 0.5 after the 2nd and 3rd convolution and before the Dense 512 ReLU; one sigmoid
    unit for two classes (1,704,097 parameters at 300x300x3, as in the example), else softmax.

    With a `seed`, every kernel initializer and dropout layer gets an explicit seed drawn
    from `random.Random(seed)`, never from Python's global `random`, which other threads may
    draw from. They are the seeds Keras would draw right after `set_random_seed(seed)`.
    """
    input_shape = _check_input_shape(input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        fail("num_classes", num_classes, "an int >= 2")
    next_seed = _seed_stream(seed)
    stack = [layers.Input(shape=input_shape)]
    for index, (filters, pool) in enumerate(
        zip(CONV_FILTERS, pooled_convolutions(min(input_shape[:2])))
    ):
        stack.append(layers.Conv2D(filters, (3, 3), activation="relu", **next_seed("kernel")))
        if index in DROPOUT_AFTER_CONV:
            stack.append(layers.Dropout(0.5, **next_seed("dropout")))
        if pool:
            stack.append(layers.MaxPooling2D(2, 2))
    stack += [layers.Flatten(), layers.Dropout(0.5, **next_seed("dropout"))]
    stack.append(layers.Dense(512, activation="relu", **next_seed("kernel")))
    if num_classes == 2:
        stack.append(layers.Dense(1, activation="sigmoid", **next_seed("kernel")))
    else:
        stack.append(layers.Dense(num_classes, activation="softmax", **next_seed("kernel")))
    return keras.Sequential(stack, name="gc_tutorial_cnn")


def _seed_stream(seed: int | None):
    """Keyword arguments that seed the next layer (its kernel initializer or its dropout), drawn
    as Keras's `make_default_seed` draws them, but from a generator of our own."""
    if seed is None:
        return lambda kind: {}
    generator = random.Random(seed)

    def next_seed(kind: str) -> dict:
        value = generator.randint(1, int(1e9))
        if kind == "dropout":
            return {"seed": value}
        return {"kernel_initializer": keras.initializers.GlorotUniform(seed=value)}

    return next_seed


def loss_for(num_classes: int) -> str:
    """The loss that matches `build_model`'s output for integer labels."""
    return "binary_crossentropy" if num_classes == 2 else "sparse_categorical_crossentropy"


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        fail("input_shape", input_shape, "(height, width, channels) of positive ints")
    if min(shape[:2]) < SMALLEST_IMAGE_SIZE:
        raise ValueError(
            f"`input_shape` must be at least {SMALLEST_IMAGE_SIZE}x{SMALLEST_IMAGE_SIZE}, the "
            f"smallest that five 3x3 convolutions can read. Received: input_shape={input_shape!r}."
        )
    return shape
