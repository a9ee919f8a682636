"""The machine and versions a result was made on, recorded in every saved result."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def describe_environment(jit_compile: bool | str = "auto") -> dict:
    """Versions and the machine, recorded with every result."""
    import keras  # heavy: loaded only when a result is made
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "backend": keras.backend.backend(),
        "platform": platform.platform(),
        "processor": processor_name(),
        "cpu_vector_extensions": cpu_vector_extensions(),
        "cpu_count": os.cpu_count(),
        "memory_gib": memory_gib(),
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
        "jit_compile": jit_compile,
        "op_determinism": True,
    }


def processor_name() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo, else what `platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The CPU features that decide which kernels TensorFlow and oneDNN run, and so the last bits of
# every float they add up: two machines without the same ones need not give the same numbers.
VECTOR_EXTENSIONS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def cpu_vector_extensions(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str] | None:
    """Which of `VECTOR_EXTENSIONS` the CPU has (Linux's /proc/cpuinfo), or None where unknown."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return [name for name in VECTOR_EXTENSIONS if name in flags]
    except OSError:
        pass
    return None


def memory_gib() -> float | None:
    """The machine's memory in GiB (Linux's /proc/meminfo), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None
