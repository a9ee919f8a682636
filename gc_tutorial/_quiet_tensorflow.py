"""Load Keras and TensorFlow without their start-up logs.

TensorFlow's libraries log as they load and first look for devices, before TF_CPP_MIN_LOG_LEVEL
is read: only muting file descriptor 2 keeps those lines out of notebooks. Set
TF_CPP_MIN_LOG_LEVEL=0 to see everything.
"""

import contextlib
import importlib.util
import os
import sys


def load_keras_quietly() -> None:
    """Import Keras quietly; on its TensorFlow backend (only), TensorFlow and its devices too."""
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
