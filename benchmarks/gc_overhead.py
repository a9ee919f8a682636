"""What GC costs per training step: step time with GC / without, same model, batch and data.

Run from the repository root:

    python benchmarks/gc_overhead.py [--sizes 300 64] [--repeats 7]

For each image size and optimizer (SGD, RMSprop, Adam), a baseline model and a GC model
(same initial weights) train on one fixed batch of 128; after two warm-up steps each, their
steps alternate so that both see the same machine load, and the ratio of the medians is
reported. Op determinism is on, as in `run_comparison`.

Any Keras backend: `KERAS_BACKEND=jax python benchmarks/gc_overhead.py --device "NVIDIA H100"`
runs without TensorFlow (op determinism is TensorFlow's; the other backends skip it).
"""

from __future__ import annotations

import argparse

import keras
import numpy as np
from common import device_name, load_average, median_seconds, print_table, write_results

from gc_tutorial import make_optimizer
from gc_tutorial.model import build_model, loss_for

OPTIMIZERS = {"sgd": 1e-2, "rmsprop": 1e-4, "adam": 1e-4}


def step_functions(image_size: int, optimizer: str, batch_size: int):
    rng = np.random.default_rng(0)
    images = keras.ops.convert_to_tensor(
        rng.random((batch_size, image_size, image_size, 3), dtype="float32")
    )  # on the backend's device once, not copied there every step
    labels = keras.ops.convert_to_tensor(rng.integers(0, 2, batch_size).astype("float32"))
    steps = {}
    for gc in (False, True):
        keras.utils.set_random_seed(0)
        model = build_model((image_size, image_size, 3))
        model.compile(
            optimizer=make_optimizer(optimizer, gc=gc, learning_rate=OPTIMIZERS[optimizer]),
            loss=loss_for(2),
        )
        steps[gc] = lambda model=model: model.train_on_batch(images, labels)
    return steps


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 64])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", help="a note on the device, kept with the results")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    determinism = keras.backend.backend() == "tensorflow"
    if determinism:
        from gc_tutorial.experiment import enable_determinism  # imports TensorFlow

        enable_determinism()
    device = args.device or device_name()
    print(f"backend {keras.backend.backend()}, device: {device}, load average {load_average()}")
    rows = []
    for size in args.sizes:
        for optimizer in OPTIMIZERS:
            steps = step_functions(size, optimizer, args.batch_size)
            for _ in range(2):  # warm-up: tracing, first allocations
                steps[False](), steps[True]()
            baseline, gc = [], []
            for _ in range(args.repeats):
                baseline.append(median_seconds(steps[False], 1)[0])
                gc.append(median_seconds(steps[True], 1)[0])
            row = {
                "image_size": size,
                "optimizer": optimizer,
                "baseline_step_s": float(np.median(baseline)),
                "gc_step_s": float(np.median(gc)),
            }
            row["gc_over_baseline"] = row["gc_step_s"] / row["baseline_step_s"]
            rows.append(row)
            print_table([row], list(row))
    print()
    print_table(rows, list(rows[0]))
    write_results(
        "gc_overhead",
        {
            "parameters": vars(args) | {"op_determinism": determinism},
            "rows": rows,
            "load_average_end": load_average(),
        },
        args.output,
        device,
    )
    return {"rows": rows}


if __name__ == "__main__":
    main()
