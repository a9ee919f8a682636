"""Images per second: gc_tutorial's training pipeline vs the Keras example's, vs a training step.

Run from the repository root:

    python benchmarks/pipeline.py [--images 512] [--batch-size 128] [--image-size 300]

Both pipelines start from the same decoded uint8 images (the synthetic source by default,
so it runs offline) and are timed in steady state: after one warm-up epoch, the median
of several epochs. The training step is the example's CNN (`gc_tutorial.model`) fed one
fixed in-memory batch. Results go to a table on stdout and to JSON.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import keras
import numpy as np
import tensorflow as tf
from common import at_least, buildable_image_size, check_output, write_results
from keras import layers

from gc_tutorial import data
from gc_tutorial.checks import SYNTHETIC
from gc_tutorial.datasets.arrays import synthetic_images


def example_pipeline(images: np.ndarray, labels: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """The Keras example's `prepare(train_ds, shuffle=True, augment=True)`, as written there."""
    autotune = tf.data.AUTOTUNE
    rescale = layers.Rescaling(1.0 / 255)
    data_augmentation = [
        layers.RandomFlip("horizontal_and_vertical"),
        layers.RandomRotation(0.3),
        layers.RandomZoom(0.2),
    ]

    def apply_aug(x):
        for aug in data_augmentation:
            x = aug(x)
        return x

    ds = tf.data.Dataset.from_tensor_slices((images, labels))  # decoded uint8, like tfds's
    ds = ds.map(lambda x, y: (rescale(x), y), num_parallel_calls=autotune)
    ds = ds.shuffle(1024)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda x, y: (apply_aug(x), y), num_parallel_calls=autotune)
    return ds.prefetch(buffer_size=autotune)


def ours_pipeline(
    images: np.ndarray, labels: np.ndarray, batch_size: int, image_size: int
) -> tf.data.Dataset:
    """`load_dataset(...).train`'s pipeline on the same examples."""
    examples = tf.data.Dataset.from_tensor_slices((images, labels))
    return data.build_pipeline(
        examples,
        image_size=image_size,
        batch_size=batch_size,
        training=True,
        augment=True,
        shuffle=True,
        seed=0,
    )


def epoch_throughputs(dataset: tf.data.Dataset, epochs: int) -> list[float]:
    """Images per second of each epoch after one warm-up epoch (which fills any cache)."""
    rates = []
    for epoch in range(epochs + 1):
        start, count = time.perf_counter(), 0
        for _, batch_labels in dataset:
            count += int(batch_labels.shape[0])
        if epoch > 0:
            rates.append(count / (time.perf_counter() - start))
    return rates


def training_throughputs(image_size: int, batch_size: int, steps: int, seed: int = 0):
    """Images per second of `train_on_batch` for the example's CNN, after two warm-up steps."""
    from gc_tutorial.model import build_model, loss_for

    model = build_model(input_shape=(image_size, image_size, 3), num_classes=2)
    model.compile(optimizer=keras.optimizers.RMSprop(), loss=loss_for(2))
    rng = np.random.default_rng(seed)
    images = rng.random((batch_size, image_size, image_size, 3), dtype=np.float32)
    labels = rng.integers(0, 2, batch_size).astype(np.int32)
    rates = []
    for step in range(steps + 2):
        start = time.perf_counter()
        model.train_on_batch(images, labels)
        if step >= 2:
            rates.append(batch_size / (time.perf_counter() - start))
    return rates


def source_images(source: str, num_images: int, image_size: int, seed: int):
    """`num_images` decoded uint8 training images and labels from `source`, at `image_size`."""
    if source == SYNTHETIC:
        return synthetic_images(num_images, image_size, seed)
    loaded = data.load_dataset(
        source,
        image_size=image_size,
        batch_size=num_images,
        augment=False,
        shuffle=False,
        max_examples=num_images,
    )
    images, labels = next(iter(loaded.train))
    return np.round(images.numpy() * 255).astype(np.uint8), labels.numpy()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=SYNTHETIC)
    parser.add_argument("--images", type=at_least(1), default=512, help="training images per epoch")
    parser.add_argument("--batch-size", type=at_least(1), default=128)
    parser.add_argument("--image-size", type=buildable_image_size, default=300)
    parser.add_argument("--epochs", type=at_least(1), default=5, help="timed epochs per pipeline")
    parser.add_argument(
        "--steps", type=at_least(0), default=8, help="timed training steps (0: skip)"
    )
    parser.add_argument("--output", default=None, help="default: benchmarks/results/pipeline.json")
    args = parser.parse_args(argv)
    check_output(parser, "pipeline", args.output)
    try:  # a source that is no dataset, or too large at this image size, before any timing
        images, labels = source_images(args.source, args.images, args.image_size, seed=0)
    except (ValueError, OSError) as error:
        parser.error(f"--source {args.source}: {error}")
    ours = epoch_throughputs(
        ours_pipeline(images, labels, args.batch_size, args.image_size), args.epochs
    )
    example = epoch_throughputs(example_pipeline(images, labels, args.batch_size), args.epochs)
    training = (
        training_throughputs(args.image_size, args.batch_size, args.steps) if args.steps else []
    )

    results = {
        "note": "CPU only; other processes may share it, so the numbers are indicative.",
        "versions": {"tensorflow": tf.__version__, "numpy": np.__version__},
        "parameters": {
            "source": args.source,
            "images": int(len(labels)),
            "batch_size": args.batch_size,
            "image_size": args.image_size,
            "epochs": args.epochs,
            "training_steps": args.steps,
        },
        "images_per_second": {
            "ours": statistics.median(ours),
            "keras_example": statistics.median(example),
            "training_step": statistics.median(training) if training else None,
        },
        "per_epoch_images_per_second": {"ours": ours, "keras_example": example},
        "per_step_images_per_second": training,
    }
    rates = results["images_per_second"]
    results["ours_over_keras_example"] = rates["ours"] / rates["keras_example"]
    results["ours_over_training_step"] = (
        rates["ours"] / rates["training_step"] if training else None
    )
    print_table(results)
    write_results("pipeline", results, args.output)
    return results


def print_table(results: dict) -> None:
    rates = results["images_per_second"]
    parameters = results["parameters"]
    print(
        f"\n{parameters['images']} {parameters['source']} images, "
        f"{parameters['image_size']}x{parameters['image_size']}, "
        f"batch {parameters['batch_size']}, {os.cpu_count()} CPUs"
    )
    print(f"{'':34}{'images/s':>10}{'ratio':>10}")
    print(f"{'gc_tutorial pipeline':34}{rates['ours']:>10.1f}{'':>10}")
    print(
        f"{'Keras example pipeline':34}{rates['keras_example']:>10.1f}"
        f"{results['ours_over_keras_example']:>9.2f}x"
    )
    if rates["training_step"] is not None:
        print(
            f"{'training step (example CNN)':34}{rates['training_step']:>10.1f}"
            f"{results['ours_over_training_step']:>9.2f}x"
        )
    print("(ratio: gc_tutorial pipeline's images/s over that row's)\n")


if __name__ == "__main__":
    main()
