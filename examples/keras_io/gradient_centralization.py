"""
Title: Gradient Centralization for Better Training Performance
Author: [Rishit Dagli](https://github.com/Rishit-dagli)
Converted to Keras 3 by: [Muhammad Anas Raza](https://anasrz.com)
Date created: 2021/06/18
Last modified: 2026/12/05
Description: Implement Gradient Centralization and measure its effect on a small CNN.
Accelerator: GPU
"""

"""
## Introduction

This example implements [Gradient Centralization](https://arxiv.org/abs/2004.01461)
(GC) by Yong et al., which removes the mean from the gradient of each output unit of a
weight matrix or convolution kernel; the paper reports faster training and better
generalization on several image tasks. We write GC as a Keras 3 optimizer for every
backend, check that it changes training, and measure its effect on Laurence Moroney's
[Horses or Humans
dataset](https://www.tensorflow.org/datasets/catalog/horses_or_humans): both runs of
a comparison start from the same weights and see the same batches, and we report test
accuracy and loss over a few seeds and epoch times without the first epoch (which
includes compilation). It requires `pip install tensorflow-datasets`.

## Setup

The constants set the size of the run; lower them for a quick try (the model needs
images of at least 94 pixels).
"""

from time import perf_counter

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow_datasets as tfds
from keras import layers, ops
from tensorflow import data as tf_data

IMAGE_SIZE = 300
BATCH_SIZE = 128
EPOCHS = 10
SEEDS = [0, 1, 2]
LEARNING_RATE = 1e-4

"""
## Prepare the data

For this example, we will be using the [Horses or Humans
dataset](https://www.tensorflow.org/datasets/catalog/horses_or_humans).
"""

(train_split, test_split), metadata = tfds.load(
    name="horses_or_humans",
    split=[tfds.Split.TRAIN, tfds.Split.TEST],
    with_info=True,
    as_supervised=True,
)

print(f"Image shape: {metadata.features['image'].shape}")
print(f"Training images: {metadata.splits['train'].num_examples}")
print(f"Test images: {metadata.splits['test'].num_examples}")

"""
The pipeline resizes (a no-op at the dataset's 300x300) and rescales the images to
`[0, 1]`, then batches them. The training set is shuffled with a seed, so that the
two runs of a comparison see the same batches in the same order.
"""

resize = layers.Resizing(IMAGE_SIZE, IMAGE_SIZE)
rescale = layers.Rescaling(1.0 / 255)


def prepare(split, shuffle_seed=None):
    ds = split.map(
        lambda x, y: (rescale(resize(x)), y), num_parallel_calls=tf_data.AUTOTUNE
    )
    if shuffle_seed is not None:
        ds = ds.shuffle(1024, seed=shuffle_seed)
    return ds.batch(BATCH_SIZE).prefetch(tf_data.AUTOTUNE)


test_ds = prepare(test_split)

"""
## Define a model

The convolutional network is the original example's. The data augmentation (random
flips, rotations and zooms) runs as the first layers of the model, on the accelerator:
two models built after the same `keras.utils.set_random_seed()` call draw the same
augmentations and dropout masks.
"""


def make_model():
    return keras.Sequential(
        [
            layers.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3)),
            layers.RandomFlip("horizontal_and_vertical"),
            layers.RandomRotation(0.3),
            layers.RandomZoom(0.2),
            layers.Conv2D(16, (3, 3), activation="relu"),
            layers.MaxPooling2D(2, 2),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.Dropout(0.5),
            layers.MaxPooling2D(2, 2),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Dropout(0.5),
            layers.MaxPooling2D(2, 2),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D(2, 2),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D(2, 2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(512, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


make_model().summary()

"""
## Implement Gradient Centralization

Let `G` be the gradient of a weight with more than one axis, such as a `Dense` kernel
`(inputs, units)` or a `Conv2D` kernel `(height, width, channels, filters)`; its last
axis indexes the output units. GC replaces `G` by `G - mean(G)`, the mean taken over
all axes but the last: for each output unit `j`, the mean of `G[..., j]` is subtracted
from each of its entries. Biases (one axis) are left as they are, and the optimizer
then proceeds as usual. In Keras 3, every backend's training step hands the gradients
to the optimizer's `apply()` method, so that is the method to override.
"""


class GCRMSprop(keras.optimizers.RMSprop):
    """RMSprop on centralized gradients (Yong et al., 2020)."""

    def apply(self, grads, trainable_variables=None):
        centralized = []
        for grad in grads:
            if grad is not None and len(grad.shape) > 1:
                axes = tuple(range(len(grad.shape) - 1))
                grad = grad - ops.mean(grad, axis=axes, keepdims=True)
            centralized.append(grad)
        return super().apply(centralized, trainable_variables)


"""
## Check that GC changes training

Older versions of this example, like many Keras 2 tutorials, overrode `get_gradients()`
instead. Keras 3 never calls that method, so such an optimizer trains exactly like
RMSprop. Below, three copies of the model start from the same weights and take three
steps on one batch: the `get_gradients()` override, which would raise if called, ends
where RMSprop does (up to GPU round-off); `GCRMSprop` does not.
"""


class GetGradientsRMSprop(keras.optimizers.RMSprop):
    def get_gradients(self, loss, params):
        raise RuntimeError("Keras 3 never calls get_gradients().")


images, labels = next(prepare(train_split, shuffle_seed=0).as_numpy_iterator())
keras.utils.set_random_seed(0)
check_weights = make_model().get_weights()


def weights_after_steps(optimizer, steps=3):
    keras.utils.set_random_seed(0)
    model = make_model()
    model.set_weights(check_weights)
    model.compile(loss="binary_crossentropy", optimizer=optimizer)
    for _ in range(steps):
        model.train_on_batch(images, labels)
    return model.get_weights()


plain = weights_after_steps(keras.optimizers.RMSprop(LEARNING_RATE))
for optimizer in [GetGradientsRMSprop(LEARNING_RATE), GCRMSprop(LEARNING_RATE)]:
    weights = weights_after_steps(optimizer)
    difference = max(np.max(np.abs(a - b)) for a, b in zip(plain, weights))
    print(f"{type(optimizer).__name__}: max |w - w_RMSprop| = {difference:.2e}")

"""
## Training utilities

`train_arm()` trains a fresh model from the given weights and returns its history
(test loss and accuracy after each epoch; the test set is watched, never used to choose
anything) and epoch times. The seed fixes shuffling, augmentations and dropout.
"""


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(perf_counter() - self.start)


def train_arm(optimizer, initial_weights, seed):
    keras.utils.set_random_seed(seed)
    model = make_model()
    model.set_weights(initial_weights)
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    timer = EpochTimer()
    history = model.fit(
        prepare(train_split, shuffle_seed=seed),
        validation_data=test_ds,
        epochs=EPOCHS,
        shuffle=False,  # the pipeline shuffles, with the seed
        callbacks=[timer],
        verbose=0,
    )
    return history.history, timer.times


"""
## Train the model with and without GC

For each seed, we build the initial weights once and train two fresh copies, with and
without GC, in an order that alternates from seed to seed.
"""

OPTIMIZERS = {"RMSprop": keras.optimizers.RMSprop, "GCRMSprop": GCRMSprop}
results = {name: [] for name in OPTIMIZERS}

for index, seed in enumerate(SEEDS):
    keras.utils.set_random_seed(seed)
    initial_weights = make_model().get_weights()
    names = list(OPTIMIZERS) if index % 2 == 0 else list(OPTIMIZERS)[::-1]
    for name in names:
        optimizer = OPTIMIZERS[name](learning_rate=LEARNING_RATE)
        history, times = train_arm(optimizer, initial_weights, seed)
        results[name].append((history, times))
        accuracy, loss = history["val_accuracy"][-1], history["val_loss"][-1]
        print(f"seed {seed}, {name}: test accuracy {accuracy:.4f}, loss {loss:.4f}")

"""
## Comparing performance

For each seed, we take the difference GC minus RMSprop of the final test accuracy and
loss (pairing removes the variation due to initial weights and data order), then its
mean over the `n` seeds and a 95% t interval, `mean +/- t * std / sqrt(n)`, with `n - 1`
degrees of freedom. The plot shows both arms' test curves, one line per seed.
"""

T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365}


def final_values(name, key):
    return np.array([history[key][-1] for history, _ in results[name]])


for key, label in [("val_accuracy", "test accuracy"), ("val_loss", "test loss")]:
    differences = final_values("GCRMSprop", key) - final_values("RMSprop", key)
    mean = differences.mean()
    half_width = T_975[len(SEEDS) - 1] * differences.std(ddof=1) / np.sqrt(len(SEEDS))
    interval = f"[{mean - half_width:+.4f}, {mean + half_width:+.4f}]"
    print(f"{label}: GC - RMSprop = {mean:+.4f}, 95% t interval {interval}")

for name in OPTIMIZERS:
    later_epochs = np.concatenate([times[1:] for _, times in results[name]])
    print(f"{name}: median epoch time {np.median(later_epochs):.2f} s (first excluded)")

epochs = np.arange(1, EPOCHS + 1)
figure, axes = plt.subplots(1, 2, figsize=(11, 4))
for name, color in [("RMSprop", "tab:blue"), ("GCRMSprop", "tab:orange")]:
    for index, (history, _) in enumerate(results[name]):
        for axis, key in zip(axes, ["val_accuracy", "val_loss"]):
            axis.plot(epochs, history[key], color=color, label=None if index else name)
for axis, label in zip(axes, ["Test accuracy", "Test loss"]):
    axis.set(xlabel="Epoch", ylabel=label)
    axis.legend()
plt.show()

"""
## What this run shows, and what it cannot

Within a seed the two runs differ only in the optimizer, so the paired differences
measure the effect of GC on this model, data and settings. With three seeds the t
interval is wide: it can show an effect that is large next to the seed-to-seed spread,
but an interval that contains zero does not show that GC does nothing, only that this
run cannot tell (one of the 256 test images is 0.4 points of accuracy). Ten epochs of
a small CNN on a thousand images say little about the paper's longer trainings, and
the epoch times are one machine's: GC adds a mean and a subtraction per weight tensor
and step. To learn more, add seeds, train longer, and try other models and optimizers:
the same `apply()` override works on any Keras optimizer.

Many thanks to [Ali Mustufa Shaikh](https://github.com/ialimustufa) for reviewing the
first version of this example.
"""
