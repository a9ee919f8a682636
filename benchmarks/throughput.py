"""Training throughput of the example's CNN (300x300, batch 128) for each way Keras 3 runs it here.

Run from the repository root:

    python benchmarks/throughput.py [--steps 6] [--timeout 420]

Each configuration runs in its own process (the Keras backend and TensorFlow's determinism
are process-wide): TensorFlow graph mode and TensorFlow with XLA (`jit_compile=True`), each
with and without op determinism, and the JAX backend when it is installed. For each: the first
step (tracing/compilation), the median steady step, images/s, the model's FLOP/s as a fraction
of this machine's float32 matmul peak (measured in the same run), peak memory, whether the same
seed gives the same losses twice, and the losses themselves (to compare configurations).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from common import median_seconds, peak_rss_mib, print_table, write_results

CONFIGURATIONS = {
    "tf-graph": {"backend": "tensorflow", "jit_compile": False, "determinism": False},
    "tf-graph-deterministic": {"backend": "tensorflow", "jit_compile": False, "determinism": True},
    "tf-xla": {"backend": "tensorflow", "jit_compile": True, "determinism": False},
    "tf-xla-deterministic": {"backend": "tensorflow", "jit_compile": True, "determinism": True},
    "jax": {"backend": "jax", "jit_compile": True, "determinism": False},
}


def training_flops_per_image(model) -> float:
    """Multiply-adds x 2 of the forward pass, x 3 for forward + backward (the usual estimate)."""
    import keras

    forward = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, filters = layer.output.shape
            kernel_h, kernel_w = layer.kernel_size
            forward += 2 * height * width * filters * kernel_h * kernel_w * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            forward += 2 * layer.input.shape[-1] * layer.units
    return 3.0 * forward


def matmul_peak_flops(size: int = 2048, repeats: int = 10) -> float:
    """This machine's float32 matmul rate (FLOP/s), the yardstick for the model's rate."""
    import tensorflow as tf

    a = tf.random.stateless_uniform((size, size), seed=(1, 2))
    b = tf.random.stateless_uniform((size, size), seed=(3, 4))
    matmul = tf.function(lambda: tf.linalg.matmul(a, b))
    matmul().numpy()
    seconds, _ = median_seconds(lambda: matmul().numpy(), repeats)
    return 2 * size**3 / seconds


def worker(name: str, steps: int, image_size: int, batch_size: int) -> dict:
    """One configuration, in this process: time the steps, then check determinism."""
    config = CONFIGURATIONS[name]
    import keras
    import numpy as np

    from gc_tutorial.model import build_model, loss_for

    if config["determinism"]:
        from gc_tutorial.experiment import enable_determinism

        enable_determinism()
    rng = np.random.default_rng(0)
    images = rng.random((batch_size, image_size, image_size, 3), dtype="float32")
    labels = rng.integers(0, 2, batch_size).astype("float32")

    def fresh_model():
        keras.utils.set_random_seed(0)
        model = build_model((image_size, image_size, 3))
        model.compile(
            optimizer=keras.optimizers.RMSprop(1e-4),
            loss=loss_for(2),
            jit_compile=config["jit_compile"],
        )
        return model

    model = fresh_model()
    first_step, _ = median_seconds(lambda: model.train_on_batch(images, labels), 1)
    model.train_on_batch(images, labels)
    step, times = median_seconds(lambda: model.train_on_batch(images, labels), steps)
    reruns = []
    for _ in range(2):
        model = fresh_model()
        reruns.append([float(model.train_on_batch(images, labels)) for _ in range(3)])
    return {
        "configuration": name,
        **config,
        "first_step_s": first_step,
        "step_s": step,
        "step_times_s": times,
        "images_per_s": batch_size / step,
        "flops_per_step": training_flops_per_image(model) * batch_size,
        "losses": reruns[0],
        "deterministic": reruns[0] == reruns[1],
        "peak_rss_mib": peak_rss_mib(),
    }


def run_configuration(name: str, args) -> dict:
    env = {
        **os.environ,
        "KERAS_BACKEND": CONFIGURATIONS[name]["backend"],
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    command = [sys.executable, __file__, "--worker", name, "--steps", str(args.steps)]
    command += ["--image-size", str(args.image_size), "--batch-size", str(args.batch_size)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=args.timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {
            "configuration": name,
            **CONFIGURATIONS[name],
            "error": f"timed out after {args.timeout} s",
        }
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"configuration": name, **CONFIGURATIONS[name], "error": last[:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--image-size", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--timeout", type=int, default=420, help="seconds per configuration")
    parser.add_argument("--configurations", nargs="+", default=list(CONFIGURATIONS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.image_size, args.batch_size)))
        return {}
    peak = matmul_peak_flops()
    print(f"float32 matmul peak (TensorFlow, 2048x2048): {peak / 1e9:.1f} GFLOP/s")
    rows = []
    for name in args.configurations:
        print(f"running {name} ...", flush=True)
        row = run_configuration(name, args)
        if "error" not in row:
            row["model_gflops"] = row["flops_per_step"] / row["step_s"] / 1e9
            row["fraction_of_peak"] = row["model_gflops"] * 1e9 / peak
            reference = next((r for r in rows if "losses" in r), None)
            row["same_losses_as_first"] = (
                None
                if reference is None
                else bool(
                    max(abs(a - b) for a, b in zip(row["losses"], reference["losses"])) < 1e-4
                )
            )
        rows.append(row)
    columns = ["configuration", "first_step_s", "step_s", "images_per_s", "model_gflops"]
    columns += ["fraction_of_peak", "deterministic", "peak_rss_mib", "error"]
    print_table(rows, columns)
    write_results(
        "throughput",
        {"parameters": vars(args), "matmul_peak_gflops": peak / 1e9, "rows": rows},
        args.output,
    )
    return {"rows": rows}


if __name__ == "__main__":
    main()
