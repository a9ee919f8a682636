"""GC under tf.distribute.MirroredStrategy on two logical CPU devices.

GC is linear, so centralizing each replica's gradient before the all-reduce
equals centralizing the reduced gradient: training must match one device. In
update mode, each mirrored weight's step is centralized from a merge call.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        keras.backend.backend() != "tensorflow", reason="MirroredStrategy is TensorFlow's"
    ),
]


def test_mirrored_strategy_training_equals_single_device():
    worker = Path(__file__).with_name("mirrored_worker.py")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    result = subprocess.run(
        [sys.executable, str(worker)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["gc_mirrored_vs_single"] < 1e-5
    assert report["gc_vs_plain_mirrored"] > 1e-3
    assert report["update_mirrored_vs_single"] < 1e-5  # the update mode's merge call
