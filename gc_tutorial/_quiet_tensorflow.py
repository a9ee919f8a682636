"""Load Keras and TensorFlow without their start-up logs.

TensorFlow's shared libraries log at load time (oneDNN, CUDA drivers, CPU features) and when
they first look for devices (cuInit), through absl, before TF_CPP_MIN_LOG_LEVEL is read. Only
muting the process's stderr (file descriptor 2) keeps those lines out of notebooks and
terminals; TF_CPP_MIN_LOG_LEVEL=2 then hides TensorFlow's later INFO and WARNING logs.
Set TF_CPP_MIN_LOG_LEVEL=0 in the environment to see everything again.
"""

import contextlib
import importlib.util
import os
import sys


def load_keras_quietly() -> None:
    """Import Keras quietly; on its TensorFlow backend, TensorFlow and its devices too.

    On the JAX and PyTorch backends, Keras loads no TensorFlow, and neither does this.
    """
    with _stderr_muted("keras"):
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()


def load_tensorflow_quietly() -> None:
    """Import TensorFlow and list its devices quietly; call it before `import tensorflow`."""
    if importlib.util.find_spec("tensorflow") is None:
        return  # e.g. a machine with only the JAX or PyTorch backend: nothing to quiet
    with _stderr_muted("tensorflow"):
        import tensorflow as tf

        tf.config.list_physical_devices()


@contextlib.contextmanager
def _stderr_muted(module: str):
    """Mute file descriptor 2 for the block, unless `module` is loaded or logs were asked for."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if module in sys.modules or os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":
        yield
        return
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)
