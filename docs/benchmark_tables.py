"""The benchmark tables of the website, generated from the committed JSON in benchmarks/results/.

Each table is written as one Markdown file: a title, the command that wrote its results, the
machine read from the JSON, then the table. A number on the site comes from its file, so it
cannot drift from it. docs/build_site.py writes them into the site's source
(`_generated/benchmarks/<name>.md`), where docs/site/benchmarks.md includes them; run
`python docs/benchmark_tables.py FOLDER` to write them anywhere.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
GPU = "gpu_h200"
VERDICTS = {"within": "met", "undecided": "undecided", "over": "over"}


@dataclass(frozen=True)
class Table:
    """One table: where its numbers come from, how they were made, and how they are shown."""

    name: str
    title: str
    files: tuple[str, ...]  # under benchmarks/results/
    command: str
    header: tuple[str, ...]
    rows: Callable[[list[dict]], list[tuple]]  # the loaded files -> one tuple per row


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def describe_machine(machine: dict) -> str:
    """One line from a result's `machine`: device, processor, memory, versions, load."""
    device = machine.get("device") or f"cpu: {machine.get('processor', '?')}"
    parts = [device]
    if not device.startswith("cpu"):
        parts.append(f"host {machine.get('processor', '?')}, {machine.get('cpu_count')} cores")
    elif "cores" not in device:
        parts.append(f"{machine.get('cpu_count')} cores")
    if machine.get("memory_gib"):
        parts.append(f"{machine['memory_gib']} GiB")
    versions = [f"Python {machine['python']}"] if "python" in machine else []
    for package, label in (("keras", "Keras"), ("tensorflow", "TensorFlow"), ("jax", "JAX")):
        if machine.get(package):
            versions.append(f"{label} {machine[package]}")
    if machine.get("torch"):
        versions.append(f"PyTorch {machine['torch']}")
    if machine.get("backend"):
        versions.append(f"{machine['backend']} backend")
    line = "; ".join([", ".join(parts), ", ".join(versions)] if versions else [", ".join(parts)])
    if machine.get("load_average"):
        line += f"; load average {machine['load_average'][0]} at the start"
    if machine.get("note"):
        line += f" ({machine['note']})"
    return line


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def sec(seconds: float) -> str:
    return f"{seconds:.2f} s"


def pct(share: float | None) -> str:
    return "" if share is None else f"{share:.0%}"


def ratio(row: dict) -> str:
    """A GC-overhead cell: median over balanced pairs (95% interval), verdict."""
    low, high = row["pair_ratio_ci95"]
    return f"{row['pair_ratio_median']:.3f} ({low:.3f}-{high:.3f}), {VERDICTS[row['verdict']]}"


def steps_range(rows: list[dict], unit: Callable[[float], str] = ms) -> str:
    steps = [row["baseline_step_s"] for row in rows]
    return f"{unit(min(steps))} - {unit(max(steps))}"


OPTIMIZERS = ("sgd", "rmsprop", "adam")


def overhead_rows(results: list[dict], labels: list[str]) -> list[tuple]:
    """One row per (file, image size): plain step range, then SGD, RMSprop and Adam."""
    rows = []
    for result, label in zip(results, labels, strict=True):
        unit = sec if result["rows"][0]["baseline_step_s"] > 1 else ms
        for size in dict.fromkeys(row["image_size"] for row in result["rows"]):
            cells = {r["optimizer"]: r for r in result["rows"] if r["image_size"] == size}
            rows.append(
                (label, f"{size}x{size}", steps_range(list(cells.values()), unit))
                + tuple(ratio(cells[o]) if o in cells else "" for o in OPTIMIZERS)
            )
    return rows


OVERHEAD_HEADER = ("backend", "image", "plain step", "SGD", "RMSprop", "Adam")


def host_cost_rows(results: list[dict]) -> list[tuple]:
    (result,) = results
    return [
        (
            f"{r['image_size']}x{r['image_size']}",
            r["optimizer"],
            f"{r['apply_us']:.0f} µs",
            f"{r['gc_added_host_us']:.0f} µs",
            str(r["gc_added_ops"]),
            f"{r['gc_ops_us']:.0f} µs" if "gc_ops_us" in r else "",
            f"{r['foreach_gc_ops_us']:.0f} µs" if "foreach_gc_ops_us" in r else "",
            f"{r['ratio_if_host_bound']:.3f}",
        )
        for r in result["rows"]
    ]


HOST_COST_HEADER = (
    "image",
    "optimizer",
    "`apply` without GC",
    "added by GC",
    "torch ops added",
    "GC's ops alone",
    "same with `_foreach_sub`",
    "step ratio if bound by the host",
)


def throughput_rows(results: list[dict]) -> list[tuple]:
    (result,) = results
    rows = []
    for r in result["rows"]:
        if "step_s" not in r or r.get("step_s") is None:
            rows.append((f"`{r['configuration']}`", "failed", "", "", "", "", ""))
            continue
        times = r.get("step_times_s") or [r["step_s"]]
        same = r.get("same_losses_as_default")
        rows.append(
            (
                f"`{r['configuration']}`",
                sec(r["step_s"]) if r["step_s"] > 0.5 else ms(r["step_s"]),
                f"{min(times):.3g}-{max(times):.3g} s",
                f"{r['step_over_default']:.2f}" if r.get("step_over_default") else "",
                f"{r['model_gflops']:.0f}",
                pct(r["share_of_float32_peak"]) if r["precision"] == "float32" else "",
                pct(r.get("share_of_bfloat16_peak")) if r["precision"] != "float32" else "",
                "" if same is None else ("yes" if same else "no"),
            )
        )
    return rows


def peaks_line(result: dict) -> str:
    peaks = result["peaks"]
    parts = [
        f"{precision} {peak['best_gflops']:,.1f} GFLOP/s (spread {peak['spread']:.0%})"
        for precision, peak in peaks.items()
    ]
    return (
        f"Exact work {result['gflop_per_step']:.1f} GFLOP a step; the matmul peak in the same "
        f"run (best of 4096x4096 matmuls): {'; '.join(parts)}."
    )


def layer_flops_rows(results: list[dict]) -> list[tuple]:
    (result,) = results
    rows = [
        (r["layer"], r["per_image_per_pass"].replace("*", "\\*"), r["passes"])
        + (f"{r['gflop_per_step']:.3g}",)
        for r in result["layer_flops"]
    ]
    return rows + [("**total**", "", "", f"**{result['gflop_per_step']:.1f}**")]


def table_by_kind(results: list[dict], share_key: str) -> list[tuple]:
    (result,) = results
    return [
        (r["kind"], f"{r['seconds_per_step']:.3g} s", pct(r[share_key]))
        for r in result["rows"]
        if r["seconds_per_step"] > 0
    ]


def layers_rows(results: list[dict]) -> list[tuple]:
    (result,) = results
    return [
        (
            r["layer"],
            f"{r['gflop_per_step']:.3g}",
            sec(r["seconds"]),
            f"{r['gflops']:.0f}",
            pct(r["share_of_peak"]),
        )
        for r in result["rows"]
    ]


def jax_rows(results: list[dict]) -> list[tuple]:
    (result,) = results
    return [
        (
            f"`{r['configuration']}`",
            sec(r["first_step_s"]),
            sec(r["step_s"]),
            f"{r['step_over_default']:.2f}",
            f"{r['page_faults_per_step']:,.0f}",
            f"{r['peak_rss_mib'] / 1024:.1f} GiB",
        )
        for r in result["rows"]
    ]


def peer_rows(results: list[dict]) -> list[tuple]:
    (result,) = results
    default = result["package_default"]
    rows = [("Keras + TensorFlow (the package default)", sec(default["step_s"]), "1", "")]
    return rows + [
        (
            f"`{r['configuration']}`" + ("" if r["gc"] else " (no GC)"),
            sec(r["step_s"]),
            f"{r['step_over_package_default']:.2f}",
            f"{r['page_faults_per_step']:,.0f}",
        )
        for r in result["rows"]
    ]


def precision_rows(results: list[dict]) -> list[tuple]:
    (result,) = results
    return [
        (
            r["final test accuracy"],
            f"{r['float32 mean']:.3f}",
            f"{r['mixed_bfloat16 mean']:.3f}",
            f"{r['bf16 - f32']:+.3f} ({r['ci_low']:+.3f} to {r['ci_high']:+.3f}), "
            f"p = {r['p_value']:.2g}, n = {r['summary']['n']}",
        )
        for r in result["rows"]
    ]


def epochs_rows(results: list[dict], labels: list[str]) -> list[tuple]:
    rows = []
    for result, label in zip(results, labels, strict=True):
        for r in result["rows"]:
            pairs = ", ".join(f"{value:.2f}" for value in r["pair_ratios"])
            rows.append(
                (
                    f"{label}, `{r['variant']}`",
                    sec(r["pipeline_cpu_s_per_batch"]),
                    sec(r["step_cpu_s"]),
                    pairs,
                    f"{statistics.median(r['pair_ratios']):.2f}",
                )
            )
    return rows


def epochs_back_to_back_rows(results: list[dict], labels: list[str]) -> list[tuple]:
    rows = []
    for result, label in zip(results, labels, strict=True):
        for r in result["rows"]:
            rows.append(
                (
                    label,
                    ", ".join(f"{t:.1f}" for t in r["epoch_times_s"][1:]) + " s",
                    sec(r["steps_compute_s"]),
                    f"{r['epoch_over_steps']:.2f}",
                )
            )
    return rows


def pipeline_rows(results: list[dict]) -> list[tuple]:
    (result,) = results
    speeds = result["images_per_second"]
    epochs = result["per_epoch_images_per_second"]
    return [
        ("gc_tutorial (`load_dataset`'s chain)", f"{speeds['ours']:,.0f}", "",
         f"{min(epochs['ours']):,.0f}-{max(epochs['ours']):,.0f}"),
        ("the Keras example's (rescale map, no cache, augment after batching)",
         f"{speeds['keras_example']:,.0f}", f"{result['ours_over_keras_example']:.1f}x",
         f"{min(epochs['keras_example']):,.0f}-{max(epochs['keras_example']):,.0f}"),
        ("a training step of the example's CNN", f"{speeds['training_step']:,.1f}",
         f"{result['ours_over_training_step']:.1f}x", ""),
    ]  # fmt: skip


def end_to_end_rows(results: list[dict]) -> list[tuple]:
    comparison, notebooks = results
    epochs = comparison["per_epoch_mean_s"]
    steady = [e["train_time_s"] for e in epochs[1:]]
    details = (
        f"{comparison['runs']} runs; first epoch {epochs[0]['train_time_s']:.1f} s, "
        f"later epochs {min(steady):.1f}-{max(steady):.1f} s (mean over runs)"
    )
    return [
        (
            "the default comparison: " + comparison["dataset"],
            f"{comparison['total_wall_s'] / 60:.1f} min",
            f"{comparison['peak_rss_mib'] / 1024:.1f} GiB",
            details,
        ),
        (
            f"`{notebooks['command']}`",
            f"{notebooks['wall_s']:.0f} s",
            f"{notebooks['peak_rss_mib_largest_process']:,.0f} MiB",
            f"exit code {notebooks['exit_code']}",
        ),
    ]


def profile_rows(results: list[dict], labels: list[str]) -> list[tuple]:
    rows = []
    for result, label in zip(results, labels, strict=True):
        kinds = sorted(result["rows"], key=lambda r: -r["seconds_per_step"])
        top = "; ".join(
            f"{r['kind']} {pct(r['share_of_event_time'])}"
            for r in kinds[:4]
            if r["seconds_per_step"] > 0
        )
        unit = sec if result["wall_s_per_step"] > 1 else ms
        rows.append(
            (
                label,
                unit(result["wall_s_per_step"]),
                f"{unit(result['device_busy_s_per_step'])} ({pct(result['busy_share'])})",
                f"{result['events_per_step']:.0f}",
                top,
            )
        )
    return rows


def grid_scaling_rows(results: list[dict]) -> list[tuple]:
    (result,) = results
    return [
        (
            r["way"],
            f"{r['seconds']:.0f} s",
            f"{r['cells_per_minute']:.2f}",
            f"{r['speed_up']:.2f}",
            f"{r['cell_s']:.1f} s: {r['first_epochs_s']:.1f} + {r['steady_training_s']:.1f} + "
            f"{r['evaluation_s']:.1f} + {r['rest_s']:.1f}",
            f"{r['load_average_before'][0]:.2f}",
        )
        for r in result["rows"]
    ]


def compiled_once_rows(results: list[dict]) -> list[tuple]:
    (result,) = results
    same = "identical" if result["identical_histories"] else "DIFFERENT"
    return [
        (
            r["way"],
            f"{r['seconds']:.0f} s",
            f"{r['speed_up']:.2f}",
            f"{r['first_epochs_s']:.1f} s",
            f"{r['other_epochs_s']:.1f} s",
            same,
        )
        for r in result["rows"]
    ]


def worker_memory_rows(results: list[dict]) -> list[tuple]:
    (result,) = results
    same = "identical" if result["identical_histories"] else "DIFFERENT"
    return [
        (
            r["way"],
            f"`{result['variable']}` {r['environment']}",
            f"{r['steady_epoch_s']:.2f} s",
            f"{r['speed_up']:.2f}",
            f"{r['page_faults']:,}",
            f"{r['user_s']:.1f} s + {r['system_s']:.1f} s",
            same,
        )
        for r in result["rows"]
    ]


def study_runs_rows(results: list[dict]) -> list[tuple]:
    (result,) = results
    rows = []
    for row in result["rows"]:
        load = row.get("load_average_before")
        load_text = "not recorded" if load is None else f"{load[0]:.2f}"
        rows.append(
            (
                row["way"],
                f"`{row['command']}`",
                row["where"],
                f"{row['wall_time_min']} min",
                load_text,
            )
        )
    return rows


PROFILE_HEADER = ("backend", "step under the profiler", "busy", "kernels or ops a step",
                  "where the time goes (largest shares)")  # fmt: skip
THROUGHPUT_HEADER = ("configuration", "median step", "range", "x default", "GFLOP/s",
                     "share of float32 peak", "share of bfloat16 peak", "same losses")  # fmt: skip
OVERHEAD = "python benchmarks/gc_overhead.py"
TORCH_OVERHEAD = f"KERAS_BACKEND=torch {OVERHEAD}"
JAX_OVERHEAD = f"KERAS_BACKEND=jax   {OVERHEAD}"
STUDY_RUNS = (
    "python benchmarks/study_runs.py --dataset digits --output benchmarks/results/study_runs.json "
    "committed=docs/study"
)
GPU_FLAGS = "--sizes 300 64 --repeats 41 --steps-per-repeat 5"
H200 = '--device "NVIDIA H200"'


def gpu_overhead_table(name: str, title: str, flags: str, suffix: str = "") -> Table:
    """The GC overhead on the GPU on JAX and PyTorch (with `--host-cost`), run with `flags`
    into gc_overhead_<backend><suffix>.json."""
    output = f"--output benchmarks/results/{GPU}/gc_overhead"
    return Table(
        name,
        title,
        (f"{GPU}/gc_overhead_jax{suffix}.json", f"{GPU}/gc_overhead_torch{suffix}.json"),
        f"{TORCH_OVERHEAD} {flags} --host-cost {H200} {output}_torch{suffix}.json\n"
        f"{JAX_OVERHEAD} {flags} {H200} {output}_jax{suffix}.json",
        OVERHEAD_HEADER,
        lambda r: overhead_rows(r, ["JAX", "PyTorch"]),
    )


TABLES = [
    Table(
        "gc_overhead_cpu",
        "GC overhead on a CPU: GC step / plain step",
        ("gc_overhead.json", "gc_overhead_64.json", "gc_overhead_torch_cpu.json"),
        f"{OVERHEAD} --sizes 300 --repeats 31 --output benchmarks/results/gc_overhead.json\n"
        f"{OVERHEAD} --sizes 64 --repeats 41 --output benchmarks/results/gc_overhead_64.json\n"
        f"{TORCH_OVERHEAD} --sizes 64 --repeats 41 --host-cost "
        "--output benchmarks/results/gc_overhead_torch_cpu.json",
        OVERHEAD_HEADER,
        lambda r: overhead_rows(r, ["TensorFlow", "TensorFlow", "PyTorch"]),
    ),
    Table(
        "host_cost_cpu",
        "What GC adds to `optimizer.apply` on PyTorch, on a CPU (`--host-cost`)",
        ("gc_overhead_torch_cpu.json",),
        f"{TORCH_OVERHEAD} --sizes 64 --repeats 41 --host-cost "
        "--output benchmarks/results/gc_overhead_torch_cpu.json",
        HOST_COST_HEADER,
        host_cost_rows,
    ),
    Table(
        "layer_flops",
        "The work of one training step, layer by layer (300x300, batch 128)",
        ("throughput.json",),
        "python benchmarks/throughput.py --output benchmarks/results/throughput.json",
        ("layer", "FLOPs per image and pass", "passes", "GFLOP a step"),
        layer_flops_rows,
    ),
    Table(
        "throughput",
        "Throughput and share of peak (300x300, batch 128), one change per row",
        ("throughput.json",),
        "python benchmarks/throughput.py --configurations default plain-rmsprop interop-1 "
        "allocator xla xla-onednn mixed_bfloat16 no-onednn "
        "--output benchmarks/results/throughput.json",
        THROUGHPUT_HEADER,
        throughput_rows,
    ),
    Table(
        "throughput_ops",
        "The default step, op by op (TensorFlow's profiler)",
        ("throughput_ops.json",),
        "python benchmarks/throughput.py --profile-ops --steps 4 "
        "--output benchmarks/results/throughput_ops.json",
        ("kind of op", "seconds a step", "share of op time"),
        lambda r: table_by_kind(r, "share_of_op_time"),
    ),
    Table(
        "throughput_layers",
        "Each Conv2D/Dense layer alone: forward pass and gradients",
        ("throughput_layers.json",),
        "python benchmarks/throughput.py --profile-layers --steps 4 "
        "--output benchmarks/results/throughput_layers.json",
        ("layer", "GFLOP a step", "time alone", "GFLOP/s", "share of float32 peak"),
        layers_rows,
    ),
    Table(
        "throughput_jax",
        "The JAX backend on a CPU",
        ("throughput_jax.json",),
        "python benchmarks/throughput.py --steps 3 --configurations default jax jax-allocator "
        "jax-onednn --output benchmarks/results/throughput_jax.json",
        (
            "configuration",
            "first step",
            "median step",
            "x default",
            "page faults a step",
            "peak memory",
        ),  # fmt: skip
        jax_rows,
    ),
    Table(
        "peer_pytorch",
        "The same CNN and GC in PyTorch",
        ("peer_pytorch.json",),
        "python benchmarks/peer_pytorch.py --output benchmarks/results/peer_pytorch.json",
        ("configuration", "median step", "x the package default", "page faults a step"),
        peer_rows,
    ),
    Table(
        "precision",
        "bfloat16 against float32: final test accuracy on digits (24x24, 8 epochs)",
        ("precision.json",),
        "python benchmarks/precision.py --output benchmarks/results/precision.json",
        (
            "final test accuracy",
            "float32 (mean)",
            "mixed_bfloat16 (mean)",
            "bfloat16 - float32 (95% interval), p, seeds",
        ),  # fmt: skip
        precision_rows,
    ),
    Table(
        "epochs_interleaved",
        "An epoch against its steps' compute, pair by pair (300x300 stand-in folder)",
        ("epochs_interleaved_tf_resampler.json", "epochs_interleaved.json"),
        "python benchmarks/end_to_end.py epochs --interleave --epochs 5 --variants fresh "
        "fresh-no-augment --output benchmarks/results/epochs_interleaved.json",
        ("pipeline", "pipeline CPU a batch", "step CPU", "epoch / steps, per pair", "median"),
        lambda r: epochs_rows(r, ["TensorFlow's resampler", "OpenCV's resampler (the package)"]),
    ),
    Table(
        "epochs",
        "One `fit` of 6 epochs: tf.data autotuning on and off",
        ("epochs_autotuned.json", "epochs.json"),
        "python benchmarks/end_to_end.py epochs --variants fresh --epochs 6 "
        "--output benchmarks/results/epochs.json",
        ("pipeline", "epochs 2-6", "steps' compute", "epoch / steps"),
        lambda r: epochs_back_to_back_rows(r, ["autotuned", "fixed parallelism (the package)"]),
    ),
    Table(
        "pipeline",
        "The input pipeline: images a second at 300x300, batch 128",
        ("pipeline.json",),
        "python benchmarks/pipeline.py --images 1027 --epochs 6 "
        "--output benchmarks/results/pipeline.json",
        ("pipeline", "images/s (median epoch)", "ours / it", "range over epochs"),
        pipeline_rows,
    ),
    Table(
        "end_to_end",
        "End to end: the default comparison, and the notebooks in quick mode",
        ("end_to_end_comparison.json", "end_to_end_notebooks.json"),
        "python benchmarks/end_to_end.py comparison "
        "--output benchmarks/results/end_to_end_comparison.json\n"
        "python benchmarks/end_to_end.py notebooks "
        "--output benchmarks/results/end_to_end_notebooks.json",
        ("run", "wall time", "peak memory", "details"),
        end_to_end_rows,
    ),
    Table(
        "grid_scaling",
        "One grid of digits comparisons, run in one process and on Dask workers",
        ("grid_scaling.json",),
        "python benchmarks/grid_scaling.py --output benchmarks/results/grid_scaling.json",
        (
            "how the cells ran",
            "wall time",
            "cells a minute",
            "speed-up",
            "a cell: first epochs + other epochs' training + evaluation + the rest",
            "load before (1 min)",
        ),
        grid_scaling_rows,
    ),
    Table(
        "compiled_once",
        "One study cell (digits, RMSprop 1e-3, 10 seeds): each arm compiled anew or once",
        ("compiled_once.json",),
        "python benchmarks/compiled_once.py --output benchmarks/results/compiled_once.json",
        (
            "how the arms were compiled",
            "wall time",
            "speed-up",
            "first epochs",
            "other epochs' training",
            "histories",
        ),
        compiled_once_rows,
    ),
    Table(
        "worker_memory",
        "One study cell in a one-thread Dask worker: Dask's default environment or the grid's",
        ("worker_memory.json",),
        "python benchmarks/worker_memory.py --output benchmarks/results/worker_memory.json",
        (
            "worker environment",
            "variable",
            "epoch (after the first)",
            "speed-up",
            "page faults",
            "CPU: user + system",
            "histories",
        ),
        worker_memory_rows,
    ),
    Table(
        "study_runs",
        "The committed digits study: where it ran, and how long",
        ("study_runs.json",),
        STUDY_RUNS,
        ("way", "command", "where the cells ran", "wall time", "load before (1 min)"),
        study_runs_rows,
    ),
    Table(
        "device_profile_cpu",
        "Where a step's time goes on a CPU (300x300, batch 128, 3 steps)",
        ("device_profile_jax.json", "device_profile_torch.json"),
        "KERAS_BACKEND=jax   python benchmarks/device_profile.py --steps 3 "
        "--output benchmarks/results/device_profile_jax.json\n"
        "KERAS_BACKEND=torch python benchmarks/device_profile.py --steps 3 "
        "--output benchmarks/results/device_profile_torch.json",
        PROFILE_HEADER,
        lambda r: profile_rows(r, ["JAX", "PyTorch"]),
    ),
    gpu_overhead_table(
        "gc_overhead_gpu",
        "GC overhead on a GPU: GC step / plain step, blocks of 5 steps",
        GPU_FLAGS,
    ),
    gpu_overhead_table(
        "gc_overhead_gpu_replicate",
        "The same measurement, run a second time with the same flags",
        "--sizes 64 300 --repeats 41 --steps-per-repeat 5",
        suffix="_replicate",
    ),
    Table(
        "gc_overhead_gpu_single_steps",
        "Timing single steps instead of blocks of 5 (PyTorch)",
        (f"{GPU}/gc_overhead_torch_single_steps.json",),
        f"{TORCH_OVERHEAD} --sizes 300 64 --repeats 41 --host-cost {H200} "
        f"--output benchmarks/results/{GPU}/gc_overhead_torch_single_steps.json",
        OVERHEAD_HEADER,
        lambda r: overhead_rows(r, ["PyTorch"]),
    ),
    Table(
        "gc_overhead_gpu_compiled",
        "With the step compiled (`--jit-compile`: torch.compile)",
        (f"{GPU}/gc_overhead_torch_compiled.json",),
        f"{TORCH_OVERHEAD} --sizes 64 --optimizers sgd --repeats 21 --steps-per-repeat 5 "
        f"--jit-compile {H200} --output benchmarks/results/{GPU}/gc_overhead_torch_compiled.json",
        OVERHEAD_HEADER,
        lambda r: overhead_rows(r, ["PyTorch, compiled"]),
    ),
    Table(
        "host_cost_gpu",
        "What GC adds to `optimizer.apply` on PyTorch, on a GPU (`--host-cost`)",
        (f"{GPU}/gc_overhead_torch.json",),
        f"{TORCH_OVERHEAD} {GPU_FLAGS} --host-cost {H200} "
        f"--output benchmarks/results/{GPU}/gc_overhead_torch.json",
        HOST_COST_HEADER,
        host_cost_rows,
    ),
    Table(
        "throughput_gpu",
        "Throughput on a GPU (300x300, batch 128)",
        (f"{GPU}/throughput_gpu.json",),
        "KERAS_BACKEND=torch python benchmarks/throughput.py --configurations torch "
        f"torch-mixed_bfloat16 jax jax-mixed_bfloat16 --steps 10 --timeout 80 {H200} "
        f"--output benchmarks/results/{GPU}/throughput_gpu.json",
        THROUGHPUT_HEADER,
        throughput_rows,
    ),
    Table(
        "device_profile_gpu",
        "Where a step's time goes on a GPU (300x300, batch 128, 5 steps)",
        (f"{GPU}/device_profile_torch.json", f"{GPU}/device_profile_jax.json"),
        "KERAS_BACKEND=torch python benchmarks/device_profile.py --steps 5 --trace-dir "
        f"traces/torch {H200} --output benchmarks/results/{GPU}/device_profile_torch.json\n"
        "KERAS_BACKEND=jax   python benchmarks/device_profile.py --steps 5 --trace-dir "
        f"traces/jax {H200} --output benchmarks/results/{GPU}/device_profile_jax.json\n"
        "# read a committed trace back, on any machine:\n"
        f"python benchmarks/device_profile.py --summarise benchmarks/results/{GPU}/"
        "torch_trace.json.gz --steps 5",
        PROFILE_HEADER,
        lambda r: profile_rows(r, ["PyTorch", "JAX"]),
    ),
]


def wrap_command(command: str, width: int = 92) -> str:
    """Long command lines broken before their flags, shell-style, to read without scrolling."""
    lines = []
    for line in command.splitlines():
        while len(line) > width and line.find(" --", 8, width) > 0:
            cut = line.rindex(" --", 8, width)
            lines.append(line[:cut] + " \\")
            line = "    " + line[cut + 1 :]
        lines.append(line)
    return "\n".join(lines)


def without_empty_columns(header: tuple, rows: list[tuple]) -> tuple[tuple, list[tuple]]:
    """Columns that no row fills (a value a file does not record) are left out."""
    keep = [i for i in range(len(header)) if any(str(row[i]) for row in rows)]
    return tuple(header[i] for i in keep), [tuple(row[i] for i in keep) for row in rows]


def markdown(table: Table) -> str:
    """The table's Markdown: title, command, machine (from each file), table, source files."""
    results = [load(name) for name in table.files]
    lines = [f"**{table.title}**", "", "```bash", wrap_command(table.command), "```", ""]
    if len(results) == 1:
        lines += [f"Machine: {describe_machine(results[0]['machine'])}.", ""]
    else:
        lines += ["Machines, from each file:", ""]
        lines += [
            f"- `{name}`: {describe_machine(result['machine'])}."
            for name, result in zip(table.files, results, strict=True)
        ] + [""]
    if table.name.startswith("throughput") and "peaks" in results[0]:
        lines += [peaks_line(results[0]), ""]
    header, rows = without_empty_columns(table.header, table.rows(results))
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines + [""])


def write_tables(folder: Path) -> list[Path]:
    """Every table as `<name>.md` in `folder`; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in TABLES:
        path = folder / f"{table.name}.md"
        path.write_text(markdown(table))
        written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python docs/benchmark_tables.py FOLDER")
    for path in write_tables(Path(sys.argv[1])):
        print(path)
