"""Gradient Centralization (Yong et al., 2020, arXiv:2004.01461) for Keras 3: the gradient mode.

GC subtracts from the gradient of every weight of rank > 1 its mean over all axes but the
output axis. Keras 3 never calls `get_gradients()`; on every backend a training step reaches
`Optimizer.apply(grads, variables)`, so `GradientCentralization` centralizes there. The update
mode is in `gc_tutorial.update_mode`, the twins (`GCAdam`, ...) in `gc_tutorial.optimizers`.
"""

from __future__ import annotations

from gc_tutorial._quiet_tensorflow import load_keras_quietly
from gc_tutorial.checks import check_bool

load_keras_quietly()  # before Keras's first import: TensorFlow's start-up logs stay out
import keras  # noqa: E402
from keras import ops  # noqa: E402


def is_centralized(shape, conv_only: bool = False) -> bool:
    """True for the weights GC centralizes: rank >= 2 (Dense and conv kernels), or with
    `conv_only` rank >= 3 (Conv1D, 2D and 3D kernels; the paper's code leaves Conv1d out)."""
    return len(shape) >= (3 if conv_only else 2)


def centralize_gradient(grad, conv_only: bool = False):
    """Return `grad` minus its mean over all axes but the last (output) axis.

    Keras kernels keep output units last (Dense `(in, out)`, Conv2D `(kh, kw, in, out)`), so
    each output unit's gradient then has zero mean. `grad` (a backend tensor or a NumPy
    array) comes back unchanged where `is_centralized(grad.shape, conv_only)` is False.

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> grad = np.array([[1.0, 2.0], [3.0, 6.0]], dtype="float32")
        >>> ops.convert_to_numpy(centralize_gradient(grad)).tolist()
        [[-1.0, -2.0], [1.0, 2.0]]
    """
    check_bool("conv_only", conv_only)
    if not is_centralized(grad.shape, conv_only):
        return grad
    axes = tuple(range(len(grad.shape) - 1))
    if type(grad).__module__ == "torch":  # torch's own mean: less host time than Keras's dispatch
        return grad - grad.mean(dim=axes, keepdim=True)
    grad = _as_dense_tensor(grad)
    return grad - ops.mean(grad, axis=axes, keepdims=True)


def _as_dense_tensor(grad):
    """A NumPy gradient becomes a backend tensor; an Embedding's sparse TF gradient, a dense one."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(grad, tf.IndexedSlices):
            return tf.convert_to_tensor(grad)
    return grad if ops.is_tensor(grad) else ops.convert_to_tensor(grad)


class GradientCentralization:
    """Put it first among a Keras optimizer's bases to centralize every gradient of rank > 1.

    `class GCSGD(GradientCentralization, keras.optimizers.SGD)` is SGD with GC, taking every
    argument of SGD plus `conv_only`. GC runs in `apply()`, before Keras unscales, accumulates
    and clips gradients and applies weight decay. The site's page "GC and each optimizer" says
    what that means for clipping, and for each optimizer.
    """

    def __init__(self, *args, conv_only: bool = False, **kwargs):
        check_bool("conv_only", conv_only)
        super().__init__(*args, **kwargs)
        self.conv_only = conv_only

    def apply(self, grads, trainable_variables=None):
        return super().apply(self.centralized(grads), trainable_variables)

    def centralized(self, grads: list) -> list:
        """Each gradient GC centralizes, minus its mean over all axes but the last; a missing
        gradient (a weight the loss does not reach) stays None, as Keras expects."""
        centralized = []
        for grad in grads:
            if grad is not None and is_centralized(grad.shape, self.conv_only):
                grad = centralize_gradient(grad)
            centralized.append(grad)
        return centralized

    def get_config(self):
        return {**super().get_config(), "conv_only": self.conv_only}
