"""Run by tests/test_distributed.py in a fresh process (logical devices must be set first).

Trains the same small model with a GC optimizer (SGD with GC on the gradient, AdamW with GC
on the update) on one device and under a two-replica MirroredStrategy, and prints the largest
weight differences as JSON.
"""

import json
import sys

import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from gc_tutorial import make_optimizer  # noqa: E402


def train(strategy, gc, **options):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((6, 6, 2)),
                keras.layers.Conv2D(3, 3, activation="relu"),
                keras.layers.Flatten(),
                keras.layers.Dense(4),
            ]
        )
        optimizer = make_optimizer(options.pop("name", "sgd"), gc=gc, learning_rate=0.1, **options)
        model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6, 6, 2)).astype("float32")
    y = rng.normal(1.0, size=(32, 4)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return [np.asarray(w) for w in model.get_weights()]


def max_difference(a, b):
    return float(max(np.abs(u - v).max() for u, v in zip(a, b)))


mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
single = tf.distribute.get_strategy()
gc_mirrored = train(mirrored, gc=True)
update = dict(name="adamw", weight_decay=0.1, centralize="update")
update_mirrored = train(mirrored, gc=True, **update)
json.dump(
    {
        "replicas": mirrored.num_replicas_in_sync,
        "gc_mirrored_vs_single": max_difference(gc_mirrored, train(single, gc=True)),
        "gc_vs_plain_mirrored": max_difference(gc_mirrored, train(mirrored, gc=False)),
        "update_mirrored_vs_single": max_difference(
            update_mirrored, train(single, gc=True, **update)
        ),
    },
    sys.stdout,
)
