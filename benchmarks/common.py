"""What every benchmark records and prints: the machine, versions, a table, a JSON file."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))


def machine(device: str | None = None) -> dict:
    """The machine a benchmark ran on, as the README quotes it: processor, its bfloat16
    units, memory, versions, the Keras backend and the device it computes on.

    TensorFlow is imported only when it is Keras's backend, so the benchmarks also run
    where it is not installed (a GPU machine with JAX or PyTorch only).
    """
    import keras

    backend = keras.backend.backend()
    described = {
        "platform": platform.platform(),
        "processor": processor_name(),
        "cpu_count": os.cpu_count(),
        "bf16_cpu_flags": bf16_cpu_flags(),
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": backend,
        "device": device or device_name(),
        "load_average": load_average(),
    }
    if backend == "tensorflow":
        from gc_tutorial.files.environment import describe_environment

        environment = describe_environment()
        described |= {key: environment[key] for key in ("memory_gib", "gpus", "tensorflow")}
    else:
        described[backend] = _version(backend)
    return described


def processor_name() -> str:
    """The CPU's model name, as results.json records it (platform's, without pandas/scipy)."""
    try:
        from gc_tutorial.files.environment import processor_name as recorded_name
    except ImportError:  # a machine with only the benchmark's backend installed
        return platform.processor() or platform.machine()
    return recorded_name()


def bf16_cpu_flags() -> list[str]:
    """This CPU's bfloat16 units, as /proc/cpuinfo flags: avx512_bf16 (dot products),
    amx_bf16 (tile matrix multiply). Empty: bfloat16 is emulated, and slower."""
    flags = next((line for line in _cpuinfo().splitlines() if line.startswith("flags")), "")
    return [flag for flag in ("avx512_bf16", "amx_bf16") if flag in flags.split()]


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (`uptime`): above the core count, others ran too."""
    return [round(load, 2) for load in os.getloadavg()]


def device_name() -> str:
    """What Keras's backend computes on: the first GPU's name, else the CPU's."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return f"{device.platform}: {device.device_kind}"
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return f"cuda: {torch.cuda.get_device_name(0)}"
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"gpu: {details.get('device_name', gpus[0].name)}"
    return f"cpu: {processor_name()}, {os.cpu_count()} cores"


def synchronize(value) -> None:
    """Wait until `value` (a backend tensor) is computed: a GPU runs asynchronously."""
    import keras

    keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.ravel(value)[:1], "float32"))


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def median_seconds(step, repeats: int) -> tuple[float, list[float]]:
    """Median wall time of `step()` over `repeats` calls, and every time measured."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def median_ci(values: list[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """A distribution-free confidence interval for the median of `values`: the k-th smallest
    and k-th largest value, with k the largest rank whose binomial tail keeps the coverage
    at least `confidence`. None when there are too few values for any such interval
    (fewer than 6 at 95%)."""
    from scipy.stats import binom

    ordered, n = sorted(values), len(values)
    tail = (1 - confidence) / 2
    k = 0  # values below the interval on each side
    while k < n // 2 and binom.cdf(k, n, 0.5) <= tail:
        k += 1
    if k == 0:
        return None
    return ordered[k - 1], ordered[n - k]


def cpu_seconds() -> float:
    """CPU time this process has used so far, all threads, user and system."""
    times = os.times()
    return times.user + times.system


def peak_rss_mib(children: bool = False) -> float:
    """Peak resident memory of this process (or of its largest finished child), in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A plain-text table, one row per dict, numbers rounded for reading."""

    def text(value):
        if isinstance(value, list) and all(isinstance(v, float) for v in value):
            return " to ".join(text(v) for v in value)  # an interval
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    cells = [[text(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


def output_path(name: str, output: str | os.PathLike | None = None) -> Path:
    """Where benchmark `name` writes its JSON: `output`, else benchmarks/results/<name>.json."""
    return Path(output) if output else RESULTS / f"{name}.json"


def write_results(
    name: str, payload: dict, output: str | os.PathLike | None = None, device: str | None = None
) -> Path:
    """Write `payload` and the machine as JSON, in benchmarks/results/ unless told otherwise."""
    from gc_tutorial.files.storage import prepare_output_dir, write_atomically

    path = output_path(name, output)
    prepare_output_dir(path.parent)
    payload = {"benchmark": name, "machine": machine(device), **payload}
    write_atomically(path, json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten: {path}")
    return path


def check_output(
    parser: argparse.ArgumentParser, name: str, output: str | os.PathLike | None
) -> Path:
    """The file `write_results(name, ..., output)` will write, checked before any work: its
    folder is created and takes a file. Else `parser.error`: one line, exit 2."""
    path = output_path(name, output)
    if path.is_dir():
        parser.error(f"--output must name a file, not the folder {path}")
    check_folder(parser, "--output", path.parent)
    return path


# The empty file that shows a folder takes files; it is removed at once.
WRITE_CHECK_PREFIX = ".write-check-"


def check_folder(parser: argparse.ArgumentParser, option: str, folder: Path) -> None:
    """`parser.error` (one line, exit 2) unless `folder` is, or can be made, a folder that
    takes files."""
    if folder.exists() and not folder.is_dir():
        parser.error(f"{option}: {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=WRITE_CHECK_PREFIX):
            pass
    except OSError as error:
        parser.error(f"{option}: cannot write in {folder}: {error.strerror or error}")


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse `type`: an integer >= `minimum`. Anything else is argparse's one-line
    error, exit 2: "argument --steps: must be an integer >= 1, got 0"."""

    def integer(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text}")
        return value

    return integer


def buildable_image_size(text: str) -> int:
    """An argparse `type`: an image size the model can be built at (`SMALLEST_IMAGE_SIZE` up)."""
    from gc_tutorial.checks import SMALLEST_IMAGE_SIZE

    return at_least(SMALLEST_IMAGE_SIZE)(text)


def platform_line() -> str:
    return f"{platform.platform()}, {os.cpu_count()} CPU cores"


def run_worker(script: str, name: str, args, env: dict, failure: dict) -> dict:
    """Run `script --worker name` in its own process with `env`; its last stdout line is the
    JSON result. A timeout or a crash gives `failure` with an "error" entry."""
    import subprocess

    command = [sys.executable, script, "--worker", name, "--steps", str(args.steps)]
    command += ["--image-size", str(args.image_size), "--batch-size", str(args.batch_size)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=args.timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {**failure, "error": f"timed out after {args.timeout} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {**failure, "error": last[:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker_parser(description: str):
    """The arguments every per-configuration benchmark shares (its worker mode included)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=at_least(1), default=6)
    parser.add_argument("--image-size", type=buildable_image_size, default=300)
    parser.add_argument("--batch-size", type=at_least(1), default=128)
    parser.add_argument(
        "--timeout", type=at_least(1), default=420, help="seconds per configuration"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--output", default=None)
    return parser
