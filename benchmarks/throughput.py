"""Training throughput of the example's CNN (300x300, batch 128) as a share of the machine's peak.

Run from the repository root:

    python benchmarks/throughput.py [--steps 6] [--configurations default jax ...]
    python benchmarks/throughput.py --profile-layers      # per-layer time and share of peak
    python benchmarks/throughput.py --profile-ops         # the default step's time by kind of op
    KERAS_BACKEND=jax python benchmarks/throughput.py --device "NVIDIA H100"   # no TensorFlow

The model's work is counted exactly, layer by layer (`layer_flops`): a convolution with a
k_h x k_w kernel, C_in input and C_out output channels and an H_out x W_out output costs
2 * H_out * W_out * C_out * k_h * k_w * C_in FLOPs per image for each of its forward pass,
its weight gradient and its input gradient; a Dense layer 2 * inputs * units for each. The
first layer's input gradient is never computed (nothing upstream needs it), so it is not
counted. Biases, activations, pooling, dropout and the optimizer (under 1% here) are left out.

The yardstick is the machine's own matrix-multiply peak: the best of several 4096x4096 matmuls,
measured before and after the training steps in the same run, with its spread; in bfloat16
too where the processor has bfloat16 units (/proc/cpuinfo flags avx512_bf16 or amx_bf16) or
the backend runs on a GPU.

Each configuration runs in its own process (the backend, TensorFlow's determinism, the
dtype policy and the environment variables are process-wide). `default` is exactly what
`run_comparison` runs: GC via `make_optimizer("rmsprop", gc=True, ...)`,
`metrics=["accuracy"]`, op determinism, `jit_compile="auto"`, float32. The others change
one thing each. For each: the first step (tracing/compilation), the median steady step,
images/s, GFLOP/s and share of the peak, minor page faults per step, whether a fresh model
with the same seed gives the same losses, and whether the losses equal the default's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from common import (
    at_least,
    bf16_cpu_flags,
    check_output,
    device_name,
    load_average,
    median_seconds,
    peak_rss_mib,
    print_table,
    run_worker,
    synchronize,
    worker_parser,
    write_results,
)

# JAX on a GPU would otherwise reserve 75% of its memory in this process, and the
# configuration's own process would run out of it.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
ALLOCATOR = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "-1"}
PACKAGE_DEFAULT = {
    "backend": "tensorflow",
    "gc": True,
    "metrics": True,
    "determinism": True,
    "jit_compile": "auto",
    "precision": "float32",
    "env": {},
}
CONFIGURATIONS = {
    "default": PACKAGE_DEFAULT,
    "plain-rmsprop": PACKAGE_DEFAULT | {"gc": False, "metrics": False, "determinism": False},
    "interop-1": PACKAGE_DEFAULT | {"env": {"TF_NUM_INTEROP_THREADS": "1"}},
    "allocator": PACKAGE_DEFAULT | {"env": ALLOCATOR},
    "no-onednn": PACKAGE_DEFAULT | {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}},
    "xla": PACKAGE_DEFAULT | {"jit_compile": True},
    "xla-onednn": PACKAGE_DEFAULT
    | {"jit_compile": True, "env": {"XLA_FLAGS": "--xla_cpu_use_onednn=true"}},
    "mixed_bfloat16": PACKAGE_DEFAULT | {"precision": "mixed_bfloat16"},
    "jax": PACKAGE_DEFAULT | {"backend": "jax"},
    "jax-allocator": PACKAGE_DEFAULT | {"backend": "jax", "env": ALLOCATOR},
    "jax-onednn": PACKAGE_DEFAULT
    | {"backend": "jax", "env": ALLOCATOR | {"XLA_FLAGS": "--xla_cpu_use_onednn=true"}},
    "jax-mixed_bfloat16": PACKAGE_DEFAULT | {"backend": "jax", "precision": "mixed_bfloat16"},
    "torch": PACKAGE_DEFAULT | {"backend": "torch"},
    "torch-mixed_bfloat16": PACKAGE_DEFAULT | {"backend": "torch", "precision": "mixed_bfloat16"},
}
# Run when no --configurations are named: TensorFlow's on a CPU, the others' where it is absent.
CPU_CONFIGURATIONS = ["default", "plain-rmsprop", "interop-1", "allocator", "no-onednn", "xla"]
CPU_CONFIGURATIONS += ["mixed_bfloat16", "jax", "jax-allocator", "jax-onednn"]
OTHER_BACKENDS = ["jax", "jax-mixed_bfloat16", "torch", "torch-mixed_bfloat16"]


def layer_flops(model, batch_size: int) -> list[dict]:
    """Exact FLOPs of one training step, per Conv2D/Dense layer (see the module docstring)."""
    import keras

    rows = []
    counted = (keras.layers.Conv2D, keras.layers.Dense)
    layers = [layer for layer in model.layers if isinstance(layer, counted)]
    for index, layer in enumerate(layers):
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, filters = layer.output.shape
            kernel_h, kernel_w = layer.kernel_size
            per_pass = 2 * height * width * filters * kernel_h * kernel_w * layer.input.shape[-1]
            formula = f"2*{height}*{width}*{filters}*{kernel_h}*{kernel_w}*{layer.input.shape[-1]}"
        else:
            per_pass = 2 * layer.input.shape[-1] * layer.units
            formula = f"2*{layer.input.shape[-1]}*{layer.units}"
        passes = 2 if index == 0 else 3  # forward, weight gradient (, input gradient)
        rows.append(
            {
                "layer": layer.name,
                "per_image_per_pass": formula,
                "passes": passes,
                "gflop_per_step": per_pass * passes * batch_size / 1e9,
            }
        )
    return rows


def matmul_rates(dtype: str, size: int, repeats: int) -> list[float]:
    """FLOP/s of `repeats` size x size matmuls in `dtype`, with Keras's backend."""
    import keras

    a = keras.random.uniform((size, size), seed=1, dtype=dtype)
    b = keras.random.uniform((size, size), seed=2, dtype=dtype)
    synchronize(keras.ops.matmul(a, b))  # first call: kernel selection, allocation
    start = time.perf_counter()
    synchronize(keras.ops.matmul(a, b))
    inner = max(1, int(0.2 / (time.perf_counter() - start)))  # a GPU needs several per reading
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            product = keras.ops.matmul(a, b)
        synchronize(product)
        rates.append(2 * size**3 * inner / (time.perf_counter() - start))
    return rates


def peak_readings(dtypes: list[str], size: int, repeats: int) -> dict:
    return {dtype: matmul_rates(dtype, size, repeats) for dtype in dtypes}


def worker(name: str, steps: int, image_size: int, batch_size: int) -> dict:
    """One configuration, in this process: time the steps, then check determinism."""
    config = CONFIGURATIONS[name]
    import keras
    import numpy as np

    if config["determinism"] and keras.backend.backend() == "tensorflow":
        from gc_tutorial.comparison import enable_determinism  # imports TensorFlow

        enable_determinism()
    keras.config.set_dtype_policy(config["precision"])  # this process only, as train_arm does
    rng = np.random.default_rng(0)
    images = keras.ops.convert_to_tensor(
        rng.random((batch_size, image_size, image_size, 3), dtype="float32")
    )
    labels = keras.ops.convert_to_tensor(rng.integers(0, 2, batch_size).astype("float32"))

    def fresh_model():
        return compiled_model(config, image_size)

    def step():
        logs = model.train_on_batch(images, labels)
        losses.append(float(logs[0] if isinstance(logs, list) else logs))

    model, losses = fresh_model(), []
    first_step, _ = median_seconds(step, 1)
    step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seconds, times = median_seconds(step, steps)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps
    first_losses, losses = losses[:3], []
    model = fresh_model()
    for _ in range(3):
        step()
    return {
        "configuration": name,
        **config,
        "first_step_s": first_step,
        "step_s": seconds,
        "step_times_s": times,
        "images_per_s": batch_size / seconds,
        "page_faults_per_step": faults,
        "losses": first_losses,
        "deterministic": losses == first_losses,
        "peak_rss_mib": peak_rss_mib(),
        "device": device_name(),
    }


def compiled_model(config: dict, image_size: int):
    """A fresh model (seed 0), compiled as the configuration says."""
    import keras

    from gc_tutorial import make_optimizer
    from gc_tutorial.model import build_model, loss_for

    keras.utils.set_random_seed(0)
    model = build_model((image_size, image_size, 3))
    if model.layers[-1].compute_dtype != "float32":  # as train_arm's float32_output
        model.layers[-1].dtype_policy = "float32"
    model.compile(
        optimizer=make_optimizer("rmsprop", gc=config["gc"], learning_rate=1e-4),
        loss=loss_for(2),
        metrics=["accuracy"] if config["metrics"] else None,
        jit_compile=config["jit_compile"],
    )
    return model


def run_configuration(name: str, args) -> dict:
    config = CONFIGURATIONS[name]
    env = {**os.environ, "KERAS_BACKEND": config["backend"], "TF_CPP_MIN_LOG_LEVEL": "3"}
    env |= config["env"]
    return run_worker(__file__, name, args, env, {"configuration": name, **config})


def profile_layers(image_size: int, batch_size: int, repeats: int, peak: float) -> list[dict]:
    """TensorFlow only: each Conv2D/Dense layer alone, forward + gradients, against the peak."""
    import tensorflow as tf

    from gc_tutorial.comparison import enable_determinism
    from gc_tutorial.model import build_model

    enable_determinism()
    model = build_model((image_size, image_size, 3))
    counted = {row["layer"]: row for row in layer_flops(model, batch_size)}
    rows = []
    for layer in model.layers:
        if layer.name not in counted:
            continue
        inputs = tf.random.stateless_uniform((batch_size, *layer.input.shape[1:]), (0, 1))
        first = not rows

        @tf.function
        def forward_backward(inputs=inputs, layer=layer, first=first):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                loss = tf.reduce_sum(layer(inputs))
            sources = [layer.kernel] if first else [layer.kernel, inputs]
            return tape.gradient(loss, sources)

        forward_backward()
        seconds, _ = median_seconds(lambda f=forward_backward: [g.numpy() for g in f()], repeats)
        gflop = counted[layer.name]["gflop_per_step"]
        rows.append(
            {
                "layer": layer.name,
                "gflop_per_step": gflop,
                "seconds": seconds,
                "gflops": gflop / seconds,
                "share_of_peak": gflop * 1e9 / seconds / peak,
            }
        )
    return rows


OP_KINDS = [  # (kind, what an op's name or type contains), the first match wins
    ("convolution forward (with bias and ReLU)", "FusedConv2D"),
    ("convolution weight gradient", "Conv2DBackpropFilter"),
    ("convolution input gradient", "Conv2DBackpropInput"),
    ("dropout: random numbers", "StatelessRandom"),
    ("dropout: mask and scale, forward and backward", "dropout"),
    ("max pooling, forward and backward", "MaxPool"),
    ("ReLU gradient", "ReluGrad"),
    ("dense layers", "MatMul"),
]
OTHER_OPS = "loss, metric, optimizer (GC), other"


def profile_ops(image_size: int, batch_size: int, steps: int) -> dict:
    """TensorFlow only: the default step under TensorFlow's profiler. Each op's time on
    the executor thread that ran it, summed by kind; two executor threads run ops side by
    side, so the sum exceeds the step's wall time, and a kind's share is of that sum."""
    import tensorflow as tf

    from gc_tutorial.comparison import enable_determinism

    enable_determinism()
    model = compiled_model(PACKAGE_DEFAULT, image_size)
    images = tf.random.stateless_uniform((batch_size, image_size, image_size, 3), (0, 1))
    labels = tf.cast(tf.random.stateless_uniform((batch_size,), (0, 2)) < 0.5, tf.float32)
    for _ in range(2):  # tracing, warm-up
        model.train_on_batch(images, labels)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(images, labels)
        wall = (time.perf_counter() - start) / steps
        tf.profiler.experimental.stop()
        op_seconds = executor_op_seconds(logdir)
    totals = dict.fromkeys([kind for kind, _ in OP_KINDS] + [OTHER_OPS], 0.0)
    for name, seconds in op_seconds.items():
        kind = next((kind for kind, key in OP_KINDS if key in name), OTHER_OPS)
        totals[kind] += seconds / steps
    op_total = sum(totals.values())
    rows = [
        {"kind": kind, "seconds_per_step": seconds, "share_of_op_time": seconds / op_total}
        for kind, seconds in totals.items()
    ]
    return {"wall_s_per_step": wall, "op_seconds_per_step": op_total, "rows": rows}


def executor_op_seconds(logdir: str) -> dict[str, float]:
    """Seconds per op (`scope/name:OpType`) on TensorFlow's executor threads, from the
    profiler's XPlane file."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    host = next(plane for plane in space.planes if plane.name == "/host:CPU")
    names = {key: meta.name for key, meta in host.event_metadata.items()}
    seconds: dict[str, float] = {}
    for line in host.lines:
        if not line.name.startswith("tf_Compute"):
            continue
        for event in line.events:
            name = names.get(event.metadata_id, "")
            if ":" in name.replace("::", ""):  # "scope/op:OpType", not "ExecutorState::..."
                seconds[name] = seconds.get(name, 0.0) + event.duration_ps / 1e12
    return seconds


def spread(readings: list[float]) -> float:
    """(best - worst) / best: how much one reading of the peak can be off."""
    return (max(readings) - min(readings)) / max(readings)


def main(argv=None) -> dict:
    parser = worker_parser(__doc__.splitlines()[0])
    parser.add_argument("--configurations", nargs="+", choices=list(CONFIGURATIONS))
    parser.add_argument(
        "--peak-size", type=at_least(1), default=4096, help="matmul size of the peak"
    )
    parser.add_argument(
        "--peak-repeats", type=at_least(1), default=4, help="matmuls before and after"
    )
    parser.add_argument("--profile-layers", action="store_true")
    parser.add_argument(
        "--profile-ops", action="store_true", help="the default step's time by kind of op"
    )
    parser.add_argument("--device", help="a note on the device, kept with the results")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.image_size, args.batch_size)))
        return {}
    import keras

    backend = keras.backend.backend()
    result_name = results_name(parser, args, backend)
    device = args.device or device_name()
    print(f"backend {backend}, device: {device}, load average {load_average()}")
    if args.configurations is None:
        on_gpu = not device.startswith("cpu")
        args.configurations = (
            CPU_CONFIGURATIONS
            if backend == "tensorflow" and not on_gpu
            else [c for c in OTHER_BACKENDS if importlib.util.find_spec(c.split("-")[0])]
        )
    if args.profile_ops:
        profile = profile_ops(args.image_size, args.batch_size, args.steps)
        print_table(profile["rows"], list(profile["rows"][0]))
        print(
            f"step {profile['wall_s_per_step']:.2f} s (wall), ops "
            f"{profile['op_seconds_per_step']:.2f} s (summed over executor threads)"
        )
        return write_results(
            result_name, {"parameters": vars(args), **profile}, args.output, device
        )
    dtypes = ["float32"]
    if bf16_cpu_flags() or not device.startswith("cpu"):
        dtypes.append("bfloat16")
    before = peak_readings(dtypes, args.peak_size, args.peak_repeats)
    if args.profile_layers:
        peak = max(before["float32"])
        rows = profile_layers(args.image_size, args.batch_size, args.steps, peak)
        print_table(rows, list(rows[0]))
        return write_results(
            result_name,
            {"parameters": vars(args), "float32_peak_gflops": peak / 1e9, "rows": rows},
            args.output,
            device,
        )
    rows = []
    for name in args.configurations:
        print(f"running {name} ... (load average {load_average()})", flush=True)
        rows.append(run_configuration(name, args))
    after = peak_readings(dtypes, args.peak_size, args.peak_repeats)
    peaks = {
        dtype: {
            "best_gflops": max(before[dtype] + after[dtype]) / 1e9,
            "spread": spread(before[dtype] + after[dtype]),
            "before_gflops": [r / 1e9 for r in before[dtype]],
            "after_gflops": [r / 1e9 for r in after[dtype]],
            "backend": backend,
        }
        for dtype in dtypes
    }
    for dtype, peak in peaks.items():
        print(
            f"{dtype} matmul peak ({backend}, {args.peak_size}x{args.peak_size}, best of "
            f"{2 * args.peak_repeats}): {peak['best_gflops']:.1f} GFLOP/s, "
            f"spread {peak['spread']:.0%}"
        )
    flops = layer_flops(_model_for_counting(args.image_size), args.batch_size)
    gflop = sum(row["gflop_per_step"] for row in flops)
    print_table(flops, list(flops[0]))
    print(f"exact training work: {gflop:.1f} GFLOP/step\n")
    reference = next(
        (r for r in rows if r["configuration"] == "default" and "error" not in r), None
    )
    for row in rows:
        if "error" in row:
            continue
        row["model_gflops"] = gflop / row["step_s"]
        row["share_of_float32_peak"] = row["model_gflops"] / peaks["float32"]["best_gflops"]
        # The best step against the best matmul: what the machine reaches at a quiet moment.
        row["best_step_s"] = min(row["step_times_s"])
        row["best_share_of_float32_peak"] = (
            gflop / row["best_step_s"] / peaks["float32"]["best_gflops"]
        )
        if "bfloat16" in peaks:
            row["share_of_bfloat16_peak"] = row["model_gflops"] / peaks["bfloat16"]["best_gflops"]
        if reference is not None:
            row["step_over_default"] = row["step_s"] / reference["step_s"]
            row["same_losses_as_default"] = _close(row["losses"], reference["losses"])
    columns = ["configuration", "first_step_s", "step_s", "images_per_s", "model_gflops"]
    columns += ["share_of_float32_peak", "share_of_bfloat16_peak", "best_step_s"]
    columns += ["best_share_of_float32_peak", "step_over_default"]
    columns += ["deterministic", "same_losses_as_default", "page_faults_per_step", "error"]
    print_table(rows, columns)
    print(f"load average at the end: {load_average()}")
    write_results(
        result_name,
        {
            "parameters": vars(args),
            "gflop_per_step": gflop,
            "layer_flops": flops,
            "peaks": peaks,
            "rows": rows,
            "load_average_end": load_average(),
        },
        args.output,
        device,
    )
    return {"rows": rows, "peaks": peaks, "gflop_per_step": gflop}


def results_name(parser, args, backend: str) -> str:
    """The JSON this run writes, its --output checked; the profiles need TensorFlow."""
    option, name = None, "throughput"
    if args.profile_ops:
        option, name = "--profile-ops", "throughput_ops"
    elif args.profile_layers:
        option, name = "--profile-layers", "throughput_layers"
    if option and backend != "tensorflow":
        parser.error(
            f"{option} profiles TensorFlow's step: it needs KERAS_BACKEND=tensorflow (JAX and "
            f"PyTorch: device_profile.py); this process runs {backend}"
        )
    check_output(parser, name, args.output)
    return name


def _model_for_counting(image_size: int):
    from gc_tutorial.model import build_model

    return build_model((image_size, image_size, 3))


def _close(losses: list[float], reference: list[float]) -> bool:
    return max(abs(a - b) for a, b in zip(losses, reference)) < 1e-5


if __name__ == "__main__":
    main()
