"""Where a training step's device time goes, on the JAX and PyTorch backends: busy share, kernels.

Run from the repository root:

    KERAS_BACKEND=jax   python benchmarks/device_profile.py [--image-size 300] [--steps 5]
    KERAS_BACKEND=torch python benchmarks/device_profile.py --trace-dir traces/torch
    python benchmarks/device_profile.py --summarise traces/torch/torch_trace.json --steps 5

The package default step (`throughput.py`'s `default`: GCRMSprop, accuracy metric, float32)
trains `--steps` times on one fixed batch under the backend's own profiler, after two warm-up
steps; the raw trace is kept (`--trace-dir`), and the summary is read back from that file,
so that `--summarise` gives the same figures for a trace brought back from another machine.

On a GPU the events are the device's kernels, memory copies and sets: for JAX the lines named
"Stream ..." of the "/device:GPU:*" planes of the XPlane file (its "XLA Ops" and "XLA
Modules" lines repeat the same time and are left out); for PyTorch the chrome trace's events
of category "kernel", "gpu_memcpy" and "gpu_memset". On a CPU they are the operations: for
JAX the XLA CPU runtime's threads ("tf_XLA..." lines of "/host:CPU", bookkeeping events left
out); for PyTorch the `aten::` operations. Only outermost events count, so that nothing is
counted twice.

Reported: the wall time of a step; the device's busy time per step (the union of the events'
intervals: on a CPU, the time at least one thread ran an op) and its share of the step,
which says how much of the step the device waits for the host; events per step; the time by
kind of event, by name (`EVENT_KINDS`, approximate); the events with the most time. The
TensorFlow backend has its own profile: `throughput.py --profile-ops`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import tempfile
import time
import zlib
from pathlib import Path

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # as throughput.py
os.environ.setdefault("KINETO_LOG_LEVEL", "6")  # no start/stop lines from torch's profiler

from common import (  # noqa: E402
    at_least,
    buildable_image_size,
    check_folder,
    check_output,
    device_name,
    print_table,
    write_results,
)

EVENT_KINDS = [  # (kind, a regular expression on the event's name, any case), the first match wins
    ("convolution", r"conv(?!ert)|cudnn|fprop|dgrad|wgrad|implicit_gemm|winograd"),
    ("matrix multiply", r"gemm|matmul|\bdot|addmm|aten::mm\b|cutlass|xmma"),
    ("dropout and random numbers", r"dropout|bernoulli|philox|threefry|rng|random"),
    # XLA's CPU backend hands convolutions, dots, pooling and bias sums to YNNPACK as
    # "ynn_fusion.N", whose name says nothing more; its max-pooling gradient is an iota of
    # indices and a scatter.
    ("XLA CPU: YNNPACK calls (convolutions, dense, pooling)", r"ynn_fusion"),
    ("pooling", r"pool|reduce.window|select.and.scatter|wrapped_scatter|wrapped_iota"),
    ("memory copies and sets", r"memcpy|memset|copy|transpose|aten::to\b|contiguous"),
    ("reductions", r"reduc|\bsum\b|mean"),
    ("elementwise and fusions", r"fusion|elementwise|vectorized|loop_|add|mul|relu|threshold"),
]
OTHER_EVENTS = "other"
TOP_EVENTS = 15
GPU_CHROME_CATEGORIES = ("kernel", "gpu_memcpy", "gpu_memset")
XLA_CPU_BOOKKEEPING = ("ThreadpoolListener", "ThunkExecutor", "end: ", "SlinkyThreadPool")


def record(image_size: int, batch_size: int, steps: int, trace_dir: Path) -> tuple[Path, float]:
    """Train the package default `steps` times under the backend's profiler; return the
    trace file and the wall seconds per step."""
    import keras
    import numpy as np
    from throughput import PACKAGE_DEFAULT, compiled_model

    model = compiled_model(PACKAGE_DEFAULT | {"backend": keras.backend.backend()}, image_size)
    rng = np.random.default_rng(0)
    images = keras.ops.convert_to_tensor(
        rng.random((batch_size, image_size, image_size, 3), dtype="float32")
    )
    labels = keras.ops.convert_to_tensor(rng.integers(0, 2, batch_size).astype("float32"))
    for _ in range(2):  # compilation, warm-up
        model.train_on_batch(images, labels)  # returns the loss: each step ends synchronised
    with BackendProfiler(keras.backend.backend(), trace_dir) as trace:
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(images, labels)
        wall = (time.perf_counter() - start) / steps
    return trace(), wall


class BackendProfiler:
    """A context manager around the backend's profiler; calling the value it gives returns
    the trace file, once the profiler has stopped."""

    def __init__(self, backend: str, trace_dir: Path):
        self.backend, self.trace_dir = backend, trace_dir

    def __enter__(self):
        if self.backend == "jax":
            import jax

            self.context = jax.profiler.trace(str(self.trace_dir))
        else:
            import torch
            from torch.profiler import ProfilerActivity, profile

            activities = [ProfilerActivity.CPU]
            if torch.cuda.is_available():
                activities.append(ProfilerActivity.CUDA)
            self.context = profile(activities=activities)
        self.session = self.context.__enter__()
        return self.trace_file

    def __exit__(self, *exc):
        self.context.__exit__(*exc)
        if self.backend == "torch" and exc[0] is None:
            self.session.export_chrome_trace(str(self.trace_dir / "torch_trace.json"))
        return False

    def trace_file(self) -> Path:
        pattern = "*.xplane.pb" if self.backend == "jax" else "torch_trace.json"
        return max(self.trace_dir.rglob(pattern), key=lambda path: path.stat().st_mtime)


def read_events(path: Path) -> tuple[str, list[tuple[str, float, float, object]]]:
    """("gpu" or "cpu", [(name, start_s, end_s, track)]) from an XPlane or chrome trace."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".xplane.pb"):
        return _xplane_events(path)
    if name.endswith(".json"):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt") as file:
            return chrome_trace_events(json.load(file))
    raise ValueError(f"Unknown trace format: `path` must end in .xplane.pb or .json (.gz). {path}")


def _xplane_events(path: Path):
    from jax.profiler import ProfileData

    if path.name.endswith(".gz"):
        profile = ProfileData.from_serialized_xspace(gzip.decompress(path.read_bytes()))
    else:
        profile = ProfileData.from_file(str(path))
    gpu_planes = [plane for plane in profile.planes if plane.name.startswith("/device:GPU")]
    events = []
    if gpu_planes:
        for plane in gpu_planes:
            for line in plane.lines:
                if line.name.startswith("Stream"):
                    events += _line_events(plane.name + line.name, line.events)
        return "gpu", events
    for plane in profile.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if line.name.startswith("tf_XLA"):
                kept = [e for e in line.events if not e.name.startswith(XLA_CPU_BOOKKEEPING)]
                events += _line_events(line.name, kept)
    return "cpu", events


def _line_events(track: str, events) -> list:
    return [(e.name, e.start_ns / 1e9, (e.start_ns + e.duration_ns) / 1e9, track) for e in events]


def chrome_trace_events(trace: dict):
    """A PyTorch chrome trace's device events if it has any (a GPU), else its aten ops."""
    events = trace.get("traceEvents") if isinstance(trace, dict) else None
    if not isinstance(events, list):
        raise ValueError("a chrome trace is a JSON object with a 'traceEvents' list; this is not")
    complete = [event for event in events if event.get("ph") == "X"]
    kernels = [event for event in complete if event.get("cat") in GPU_CHROME_CATEGORIES]
    if kernels:
        return "gpu", [_chrome_event(event) for event in kernels]
    ops = [e for e in complete if e.get("cat") == "cpu_op" and e["name"].startswith("aten::")]
    return "cpu", [_chrome_event(event) for event in ops]


def _chrome_event(event: dict) -> tuple:
    start = event["ts"] / 1e6  # microseconds
    return event["name"], start, start + event["dur"] / 1e6, (event["pid"], event["tid"])


def outermost(events: list) -> list:
    """The events not inside another event of the same track (a thread, a stream)."""
    kept, ends = [], {}
    for event in sorted(events, key=lambda e: (e[1], -e[2])):
        _, start, end, track = event
        if start >= ends.get(track, float("-inf")):
            kept.append(event)
            ends[track] = end
        else:
            ends[track] = max(ends[track], end)
    return kept


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    """The total length covered by the intervals, overlaps counted once."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def kind_of(name: str) -> str:
    return next(
        (kind for kind, pattern in EVENT_KINDS if re.search(pattern, name, re.IGNORECASE)),
        OTHER_EVENTS,
    )


def summarise(device_kind: str, events: list, steps: int, wall: float | None) -> dict:
    """Busy time, events and time by kind, per step."""
    events = outermost(events)
    busy = union_seconds([(start, end) for _, start, end, _ in events]) / steps
    kinds = {kind: [0.0, 0] for kind, _ in EVENT_KINDS} | {OTHER_EVENTS: [0.0, 0]}
    names: dict[str, list] = {}
    for name, start, end, _ in events:
        for totals in (kinds[kind_of(name)], names.setdefault(name, [0.0, 0])):
            totals[0] += end - start
            totals[1] += 1
    event_time = sum(seconds for seconds, _ in kinds.values())
    if not events or event_time <= 0:
        raise ValueError("The trace holds no events of the device to summarise.")
    rows = [
        {
            "kind": kind,
            "seconds_per_step": seconds / steps,
            "share_of_event_time": seconds / event_time,
            "events_per_step": count / steps,
        }
        for kind, (seconds, count) in kinds.items()
    ]
    top = sorted(names.items(), key=lambda item: -item[1][0])[:TOP_EVENTS]
    return {
        "device_kind": device_kind,
        "wall_s_per_step": wall,
        "device_busy_s_per_step": busy,
        "busy_share": busy / wall if wall else None,
        "events_per_step": len(events) / steps,
        "rows": rows,
        "top": [
            {"name": name[:120], "seconds_per_step": s / steps, "events_per_step": c / steps}
            for name, (s, c) in top
        ],
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=buildable_image_size, default=300)
    parser.add_argument("--batch-size", type=at_least(1), default=128)
    parser.add_argument(
        "--steps", type=at_least(1), default=5, help="steps profiled (or in the trace)"
    )
    parser.add_argument(
        "--trace-dir", type=Path, help="where the raw trace goes (default: a temp dir)"
    )
    parser.add_argument(
        "--summarise", type=Path, metavar="TRACE", help="a saved trace: run nothing"
    )
    parser.add_argument(
        "--wall-s-per-step", type=float, help="with --summarise: the step's wall time"
    )
    parser.add_argument("--device", help="a note on the device, kept with the results")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    if args.summarise:
        try:
            device_kind, events = read_events(args.summarise)
        except (ValueError, KeyError, OSError, EOFError, zlib.error) as error:
            parser.error(f"--summarise {args.summarise}: not a trace this reads: {error!r}")
        trace, wall, device = args.summarise, args.wall_s_per_step, args.device
    else:
        trace_dir = args.trace_dir or Path(tempfile.mkdtemp(prefix="device_profile_"))
        trace_dir.mkdir(parents=True, exist_ok=True)
        trace, wall = record(args.image_size, args.batch_size, args.steps, trace_dir.resolve())
        device_kind, events = read_events(trace)
        device = args.device or device_name()
    if not args.summarise and device_kind == "cpu" and _gpu_present():
        parser.error(f"the profiler recorded no GPU events on a machine with a GPU: {trace}")
    try:
        summary = summarise(device_kind, events, args.steps, wall)
    except ValueError as error:
        parser.error(f"{error} {trace}")
    print(f"trace: {trace}")
    print_table(
        [{k: v for k, v in summary.items() if k not in ("rows", "top")}],
        [
            "device_kind",
            "wall_s_per_step",
            "device_busy_s_per_step",
            "busy_share",
            "events_per_step",
        ],
    )
    print()
    print_table(summary["rows"], list(summary["rows"][0]))
    print()
    print_table(summary["top"], list(summary["top"][0]))
    parameters = vars(args) | {"backend": _backend(args), "trace": str(trace)}
    parameters = {
        key: str(value) if isinstance(value, Path) else value for key, value in parameters.items()
    }
    write_results("device_profile", {"parameters": parameters, **summary}, args.output, device)
    return summary


def check_arguments(parser: argparse.ArgumentParser, args) -> None:
    """One-line errors, before anything runs (the counts and sizes are checked by their types)."""
    if args.summarise:
        name = args.summarise.name.removesuffix(".gz")
        if not args.summarise.is_file():
            parser.error(f"--summarise: no such file: {args.summarise}")
        if not name.endswith((".xplane.pb", ".json")):
            parser.error(f"--summarise needs a .xplane.pb or .json trace (.gz too), got {name}")
    else:
        if _backend(args) not in ("jax", "torch"):
            parser.error(
                "device_profile.py profiles KERAS_BACKEND=jax or torch; for TensorFlow use "
                f"throughput.py --profile-ops. This process runs {_backend(args)}"
            )
        if args.trace_dir:
            check_folder(parser, "--trace-dir", args.trace_dir)
    check_output(parser, "device_profile", args.output)


def _gpu_present() -> bool:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    import torch

    return torch.cuda.is_available()


def _backend(args) -> str | None:
    if args.summarise:
        return None
    import keras

    return keras.backend.backend()


if __name__ == "__main__":
    main()
