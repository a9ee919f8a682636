"""Load TensorFlow without its start-up logs, for the modules that import it.

TensorFlow's shared libraries log at load time (oneDNN, CUDA drivers, CPU features) and when
they first look for devices (cuInit), through absl, before TF_CPP_MIN_LOG_LEVEL is read. Only
muting the process's stderr (file descriptor 2) keeps those lines out of notebooks and
terminals; TF_CPP_MIN_LOG_LEVEL=2 then hides TensorFlow's later INFO and WARNING logs.
Set TF_CPP_MIN_LOG_LEVEL=0 in the environment to see everything again.
"""

import importlib.util
import os
import sys


def load_tensorflow_quietly() -> None:
    """Import TensorFlow and list its devices with stderr muted, unless logs were asked for.

    Call it before `import tensorflow`; it does nothing once TensorFlow is loaded.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":
        return
    if importlib.util.find_spec("tensorflow") is None:
        return  # e.g. a machine with only the JAX or PyTorch backend: nothing to quiet
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)
