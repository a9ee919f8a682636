"""What GC costs per training step: step time with GC / without, same model, batch and data.

Run from the repository root:

    python benchmarks/gc_overhead.py [--sizes 300 64] [--repeats 16] [--steps-per-repeat 1]
    KERAS_BACKEND=torch python benchmarks/gc_overhead.py --sizes 64 --host-cost

For each image size and optimizer (SGD, RMSprop, Adam), a baseline model and a GC model
(same initial weights) train on one fixed batch of 128. After two warm-up steps each, they
take turns, one block of `--steps-per-repeat` steps each per repeat (timed as a block: the
seconds per step of that block), the order swapped every repeat, so that both see the same
machine load. Blocks of several steps steady the timings of short, noisy steps (a GPU's).
Reported: the ratio of the median steps; the median ratio over balanced pairs of repeats
(the geometric mean of repeats 2k and 2k+1, one in each order, so that an advantage of
running first or second cancels) with its distribution-free 95% confidence interval (order
statistics; needs at least 12 repeats); the median ratio in each order (their gap is that
advantage); and a verdict against the target of 1.03: "within" when the whole interval is
at or under it, "over" when the whole interval is above it, "undecided" otherwise. Op
determinism is on, as in `run_comparison`. `--resummarise RESULT` computes a saved result's
intervals again from its per-repeat ratios, measuring nothing.

`--jit-compile` compiles both arms' steps (`model.compile(jit_compile=True)`: torch.compile
on PyTorch, where the default step runs eagerly; XLA on TensorFlow; JAX always compiles).

`--host-cost` (PyTorch backend only, where the step runs eagerly): what GC adds to the host's
work in `optimizer.apply`: microseconds per step (the two optimizers' `apply` on the same
gradients, timed the same alternating way, the device queue drained before each block of
calls but not after, so that it is the host's time), torch ops dispatched per step, and on a
GPU the kernels launched. Where the step is bound by the host (short steps on a GPU), the
step ratio should come close to 1 + that time / the baseline step. It also times GC's own ops
on those gradients, host time per call: the package's (a mean and a subtraction per weight of
rank > 1) against one `torch._foreach_sub` call for all the subtractions (the same numbers,
checked), the usual way to cut eager PyTorch's per-op cost.

Any Keras backend: `KERAS_BACKEND=jax python benchmarks/gc_overhead.py --device "NVIDIA H100"`
runs without TensorFlow (op determinism is TensorFlow's; the other backends skip it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("KINETO_LOG_LEVEL", "6")  # no start/stop lines from torch's profiler

import keras  # noqa: E402
import numpy as np
from common import (
    at_least,
    buildable_image_size,
    check_output,
    device_name,
    load_average,
    median_ci,
    print_table,
    write_results,
)

from gc_tutorial import centralize_gradient, make_optimizer
from gc_tutorial.files.storage import write_atomically
from gc_tutorial.model import build_model, loss_for

OPTIMIZERS = {"sgd": 1e-2, "rmsprop": 1e-4, "adam": 1e-4}
TARGET = 1.03  # the most GC may cost: GC step / plain step
RATIO_METHOD = "median and 95% interval over balanced pairs of repeats (one in each order)"


def arms(
    image_size: int, optimizer: str, batch_size: int, jit_compile: bool | str = "auto"
) -> tuple[dict, tuple]:
    """({gc: compiled model} for gc in (False, True), same seed; the fixed batch)."""
    rng = np.random.default_rng(0)
    images = keras.ops.convert_to_tensor(
        rng.random((batch_size, image_size, image_size, 3), dtype="float32")
    )  # on the backend's device once, not copied there every step
    labels = keras.ops.convert_to_tensor(rng.integers(0, 2, batch_size).astype("float32"))
    models = {}
    for gc in (False, True):
        keras.utils.set_random_seed(0)
        model = build_model((image_size, image_size, 3))
        model.compile(
            optimizer=make_optimizer(optimizer, gc=gc, learning_rate=OPTIMIZERS[optimizer]),
            loss=loss_for(2),
            jit_compile=jit_compile,
        )
        models[gc] = model
    return models, (images, labels)


def train_steps(models: dict, images, labels) -> dict:
    """{gc: a function that trains that arm's model one step on the fixed batch}."""
    return {gc: lambda m=model: m.train_on_batch(images, labels) for gc, model in models.items()}


def alternating_seconds(functions: dict, repeats: int, calls: int = 1, before=None) -> dict:
    """{key: [seconds per call, one per repeat]}: each repeat times `calls` calls of each
    function in turn, in swapped order every other repeat. `before()` runs untimed ahead of
    each block."""
    seconds = {key: [] for key in functions}
    keys = list(functions)
    for repeat in range(repeats):
        for key in keys if repeat % 2 == 0 else keys[::-1]:
            if before is not None:
                before()
            start = time.perf_counter()
            for _ in range(calls):
                functions[key]()
            seconds[key].append((time.perf_counter() - start) / calls)
    return seconds


def ratio_summary(baseline: list[float], gc: list[float]) -> dict:
    """Ratio of the medians, then `interval_summary` of the per-repeat ratios."""
    pairs = [g / b for g, b in zip(gc, baseline, strict=True)]
    return {
        "baseline_step_s": statistics.median(baseline),
        "gc_step_s": statistics.median(gc),
        "gc_over_baseline": statistics.median(gc) / statistics.median(baseline),
        **interval_summary(pairs),
        "pair_ratios": pairs,
    }


def interval_summary(pairs: list[float]) -> dict:
    """The GC/plain ratio from the per-repeat ratios `pairs` (repeat 0 runs the plain arm
    first, and the order swaps every repeat): its median and distribution-free 95% interval
    over balanced pairs of repeats, the geometric mean of repeats 2k and 2k+1, one in each
    order, so that any advantage of running first or second cancels; the verdict; and the
    median ratio in each order (their gap is that advantage)."""
    balanced = [math.sqrt(pairs[i] * pairs[i + 1]) for i in range(0, len(pairs) - 1, 2)]
    interval = median_ci(balanced)
    if interval is None:
        smallest = next(n for n in itertools.count(1) if median_ci([1.0] * n))
        verdict = f"too few repeats for an interval ({2 * smallest} needed)"
    elif interval[1] <= TARGET:
        verdict = "within"
    elif interval[0] > TARGET:
        verdict = "over"
    else:
        verdict = "undecided"
    return {
        "pair_ratio_median": statistics.median(balanced or pairs),
        "pair_ratio_ci95": list(interval) if interval else None,
        "verdict": verdict,
        "plain_first_median": statistics.median(pairs[0::2]),
        "gc_first_median": statistics.median(pairs[1::2]) if len(pairs) > 1 else None,
        "ratio_method": RATIO_METHOD,
    }


def resummarise(path: Path) -> dict:
    """A saved gc_overhead result with its intervals and verdicts computed again from its
    per-repeat ratios by `interval_summary` (for a result summarised by another method)."""
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path}: {error}") from None
    if not isinstance(results, dict) or results.get("benchmark") != "gc_overhead":
        raise ValueError(f"{path} is not a gc_overhead result")
    rows = results.get("rows")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{path} is not a gc_overhead result: it has no rows")
    if not all(isinstance(row.get("pair_ratios"), list) for row in rows):
        raise ValueError(f"{path} keeps no per-repeat ratios (saved before they were kept)")
    for row in rows:
        row.update(interval_summary(row["pair_ratios"]))
        row["pair_ratios"] = row.pop("pair_ratios")  # last, as when written
    return results


def host_cost(models: dict, repeats: int, calls: int = 50) -> dict:
    """PyTorch: GC's added host time in `optimizer.apply`, and its added ops and kernels."""
    import torch

    applies = {}
    for gc, model in models.items():
        torch.manual_seed(0)  # the same gradients for both arms
        variables = model.trainable_variables
        grads = [torch.randn_like(v.value) * 1e-3 for v in variables]
        applies[gc] = lambda o=model.optimizer, g=grads, v=variables: o.apply(g, v)
        applies[gc]()  # first call: any lazy set-up
    drain = torch.cuda.synchronize if torch.cuda.is_available() else None
    seconds = alternating_seconds(applies, repeats, calls, before=drain)
    counts = {gc: dispatched(apply) for gc, apply in applies.items()}
    added = statistics.median(seconds[True]) - statistics.median(seconds[False])
    centralized = [g for g, v in zip(grads, variables) if len(v.shape) > 1]  # same in both arms
    gc_ops = gc_ops_cost(centralized, repeats)
    return {
        **gc_ops,
        "apply_us": statistics.median(seconds[False]) * 1e6,
        "gc_apply_us": statistics.median(seconds[True]) * 1e6,
        "gc_added_host_us": added * 1e6,
        "gc_added_ops": counts[True]["ops"] - counts[False]["ops"],
        "gc_added_kernels": counts[True]["kernels"] - counts[False]["kernels"],
    }


def gc_ops_cost(grads: list, repeats: int, calls: int = 50) -> dict:
    """Host microseconds per call of GC's ops on `grads` (torch tensors of rank > 1): the
    package's `centralize_gradient` on each, and one foreach subtraction of all the means."""
    import torch

    def foreach(grads=grads):
        means = [g.mean(dim=tuple(range(g.dim() - 1)), keepdim=True).expand_as(g) for g in grads]
        return torch._foreach_sub(grads, means)

    def package(grads=grads):
        return [centralize_gradient(g) for g in grads]

    for ours, theirs in zip(package(), foreach(), strict=True):
        if not torch.equal(ours, theirs):
            raise AssertionError("the foreach variant of GC gives other numbers than the package")
    drain = torch.cuda.synchronize if torch.cuda.is_available() else None
    seconds = alternating_seconds({"package": package, "foreach": foreach}, repeats, calls, drain)
    return {
        "gc_ops_us": statistics.median(seconds["package"]) * 1e6,
        "foreach_gc_ops_us": statistics.median(seconds["foreach"]) * 1e6,
    }


def dispatched(function) -> dict:
    """Torch ops called from Python (aten ops with no aten op above them) and device
    kernels launched in one call of `function`."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    events = prof.events()
    ops = [
        event
        for event in events
        if event.name.startswith("aten::")
        and not _has_aten_parent(event)
        and event.device_type == torch.autograd.DeviceType.CPU
    ]
    kernels = [event for event in events if event.device_type == torch.autograd.DeviceType.CUDA]
    return {"ops": len(ops), "kernels": len(kernels)}


def _has_aten_parent(event) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith("aten::"):
            return True
        parent = parent.cpu_parent
    return False


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=buildable_image_size, nargs="+", default=[300, 64])
    parser.add_argument("--batch-size", type=at_least(1), default=128)
    parser.add_argument("--repeats", type=at_least(1), default=16)
    parser.add_argument(
        "--steps-per-repeat", type=at_least(1), default=1, help="steps in each timed block"
    )
    parser.add_argument(
        "--optimizers", nargs="+", choices=list(OPTIMIZERS), default=list(OPTIMIZERS)
    )
    parser.add_argument("--host-cost", action="store_true", help="PyTorch only: GC's host work")
    parser.add_argument(
        "--jit-compile",
        action="store_true",
        help="compile the step (jit_compile=True: torch.compile on PyTorch, XLA elsewhere)",
    )
    parser.add_argument("--device", help="a note on the device, kept with the results")
    parser.add_argument("--output", default=None)
    parser.add_argument(
        "--resummarise",
        metavar="RESULT",
        help="measure nothing: compute a saved result's intervals again from its per-repeat "
        "ratios, and write it back (or to --output)",
    )
    args = parser.parse_args(argv)
    if args.resummarise:
        path = Path(args.resummarise)
        output = check_output(parser, "gc_overhead", args.output or path)
        try:
            results = resummarise(path)
        except ValueError as error:
            parser.error(f"--resummarise: {error}")
        print_table(results["rows"], [c for c in results["rows"][0] if c != "pair_ratios"])
        write_atomically(output, json.dumps(results, indent=2) + "\n")
        print(f"\nwritten: {output}")
        return results
    if args.host_cost and args.jit_compile:
        parser.error("--host-cost times the eager optimizer.apply: drop it with --jit-compile")
    if args.host_cost and keras.backend.backend() != "torch":
        parser.error(
            "--host-cost needs KERAS_BACKEND=torch (the other backends compile GC into the "
            f"step); this process runs {keras.backend.backend()}"
        )
    check_output(parser, "gc_overhead", args.output)
    determinism = keras.backend.backend() == "tensorflow"
    if determinism:
        from gc_tutorial.comparison import enable_determinism  # imports TensorFlow

        enable_determinism()
    device = args.device or device_name()
    print(f"backend {keras.backend.backend()}, device: {device}, load average {load_average()}")
    rows = []
    for size in args.sizes:
        for optimizer in args.optimizers:
            models, (images, labels) = arms(
                size, optimizer, args.batch_size, True if args.jit_compile else "auto"
            )
            steps = train_steps(models, images, labels)
            alternating_seconds(steps, 2)  # warm-up: tracing, first allocations
            seconds = alternating_seconds(steps, args.repeats, args.steps_per_repeat)
            row = {"image_size": size, "optimizer": optimizer}
            row |= ratio_summary(seconds[False], seconds[True])
            if args.host_cost:
                row |= host_cost(models, args.repeats)
                row["ratio_if_host_bound"] = (
                    1 + row["gc_added_host_us"] / 1e6 / row["baseline_step_s"]
                )
            rows.append(row)
            print_table([row], [c for c in row if c != "pair_ratios"])
    print()
    print_table(rows, [c for c in rows[0] if c != "pair_ratios"])
    write_results(
        "gc_overhead",
        {
            "parameters": vars(args) | {"op_determinism": determinism, "target": TARGET},
            "rows": rows,
            "load_average_end": load_average(),
        },
        args.output,
        device,
    )
    return {"rows": rows}


if __name__ == "__main__":
    main()
