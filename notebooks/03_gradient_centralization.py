# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. Gradient Centralization
#
# [Open in Colab](https://colab.research.google.com/github/gc-tutorial/gc-tutorial/blob/main/notebooks/03_gradient_centralization.ipynb)
#
# Part 3 of the tutorial: write a GC optimizer yourself, check that GC runs, compare it with
# the package's, then see the constraint GC puts on training and its two modes.

# %%
# !python -c "import google.colab" 2>/dev/null && pip install -q "gc-tutorial @ git+https://github.com/gc-tutorial/gc-tutorial"

# %% [markdown]
# ## Parameters
# The demonstrations train a tiny probe model (a Conv2D and a Dense layer) for `demo_steps`.

# %% tags=["parameters"]
seed: int = 0  # the numeric check's random gradient
demo_learning_rate: float = 0.001  # RMSprop and AdamW in the demonstrations
sgd_learning_rate: float = 0.1  # SGD in the demonstration of the constraint
weight_decay: float = 0.1  # AdamW's weight decay
demo_steps: int = 20  # training steps of each demonstration

# %%
from gc_tutorial.parameters import check_parameters

parameters = check_parameters(globals())

# %% [markdown]
# ## Write GC yourself
# Yong et al. (2020, [arXiv:2004.01461](https://arxiv.org/abs/2004.01461)) centralize the
# gradient of each weight of rank > 1: for each output unit $j$ (in Keras, the last axis of a
# kernel: Dense `(in, out)`, Conv2D `(kh, kw, in, out)`) with $M$ entries feeding it,
#
# $$\Phi_{GC}(\nabla_{W} \mathcal{L})_{:,j} = \nabla_{W_{:,j}} \mathcal{L} - \frac{1}{M} \sum_{i=1}^{M} \nabla_{W_{i,j}} \mathcal{L}$$
#
# so each output unit's gradient has zero mean. Keras 3 optimizers apply gradients in
# `apply(grads, trainable_variables=None)`, on every backend: a GC optimizer overrides it.

# %%
import keras


class GCRMSprop(keras.optimizers.RMSprop):
    """RMSprop with Gradient Centralization."""

    def apply(self, grads, trainable_variables=None):
        centralized = []
        for grad in grads:
            if grad is not None and len(grad.shape) > 1:  # a kernel: output units last
                axes = tuple(range(len(grad.shape) - 1))
                grad = grad - keras.ops.mean(grad, axis=axes, keepdims=True)
            centralized.append(grad)  # a weight the loss does not reach keeps None
        return super().apply(centralized, trainable_variables)


# %% [markdown]
# ## Did GC run? `verify_gc`
# `verify_gc` trains a probe model for two steps with (a copy of) the optimizer, with the plain
# Keras optimizer it builds on and with that optimizer's GC twin, and says which one it trains
# like: "gradient" (GC on the gradient), "update" (GC on the update, below), "none" or "other".
# The Keras example's GC overrides `get_gradients()`, a Keras 2 method that Keras 3 never calls:

# %%
from gc_tutorial import verify_gc


class KerasExampleRMSprop(keras.optimizers.RMSprop):
    def get_gradients(self, loss, params):
        raise RuntimeError("get_gradients() was called")


print(verify_gc(GCRMSprop(learning_rate=demo_learning_rate)))
print(verify_gc(KerasExampleRMSprop(learning_rate=demo_learning_rate)))

# %% [markdown]
# ## The package's GC: the same idea
# `gc_tutorial.GCRMSprop` trains the probe model weight for weight like your class (on PyTorch
# up to float rounding: there Keras's RMSprop updates all weights in one fused step):

# %%
import numpy as np

import gc_tutorial
from gc_tutorial.verify import train_probe_model

yours = train_probe_model(GCRMSprop(learning_rate=demo_learning_rate), steps=demo_steps)
package = train_probe_model(
    gc_tutorial.GCRMSprop(learning_rate=demo_learning_rate), steps=demo_steps
)
plain = train_probe_model(
    keras.optimizers.RMSprop(learning_rate=demo_learning_rate), steps=demo_steps
)
for name, other in (("gc_tutorial.GCRMSprop", package), ("plain RMSprop", plain)):
    difference = max(np.abs(a - b).max() for a, b in zip(yours, other))
    print(f"largest weight difference from {name}: {difference:.2g}")

# %% [markdown]
# Its code is the same override, written once as a mixin that goes in front of any Keras
# optimizer, with `conv_only` (centralize convolution kernels only). `centralize_gradient` is the
# subtraction; after it, each unit's mean is 0:

# %%
import inspect

print(inspect.getsource(gc_tutorial.GradientCentralization))
rng = np.random.default_rng(seed)
gradient = rng.normal(loc=np.linspace(-2, 2, 8), size=(3, 3, 4, 8)).astype("float32")
centralized = keras.ops.convert_to_numpy(gc_tutorial.centralize_gradient(gradient))
print("unit means before:", gradient.mean(axis=(0, 1, 2)).round(2))
print("largest |unit mean| after:", np.abs(centralized.mean(axis=(0, 1, 2))).max())

# %% [markdown]
# ## The constraint, and GC's two modes
# With SGD the step is the gradient times a number, so GC keeps the mean of each output unit's
# weights where it started. Adaptive optimizers divide each entry by its own running scale, and
# weight decay adds a multiple of the weights: their step is no longer centralized. The
# authors' code can therefore centralize the update instead (`gc_loc=False`); here that is
# `centralize="update"` (`gc_tutorial.update_mode`): each step's change, weight decay included.

# %%
from gc_tutorial.update_mode import UpdateCentralization

print(inspect.getsource(UpdateCentralization._backend_update_step))

# %% [markdown]
# `unit_mean_drift` follows, step by step, how far any output unit's weight mean has moved:

# %%
import matplotlib.pyplot as plt

from gc_tutorial.verify import unit_mean_drift

adamw = dict(learning_rate=demo_learning_rate, weight_decay=weight_decay)
panels = {
    "SGD": {
        "SGD": keras.optimizers.SGD(sgd_learning_rate),
        "GCSGD": gc_tutorial.GCSGD(sgd_learning_rate),
    },
    "AdamW with weight decay": {
        "AdamW": keras.optimizers.AdamW(**adamw),
        "GCAdamW, gradient": gc_tutorial.GCAdamW(**adamw),
        "GCAdamW, update": gc_tutorial.GCAdamW(**adamw, centralize="update"),
    },
}
figure, axes = plt.subplots(1, 2, figsize=(10, 3), layout="constrained")
for axis, (title, optimizers) in zip(axes, panels.items()):
    for name, optimizer in optimizers.items():
        axis.plot(unit_mean_drift(optimizer, steps=demo_steps), label=name)
    axis.set(title=title, xlabel="training step", ylabel="max |change of a unit's mean|")
    axis.legend()
plt.show()
print(verify_gc(gc_tutorial.GCAdamW(**adamw, centralize="update")))

# %% [markdown]
# With AdamW only `centralize="update"` holds the means; which mode trains better is for
# notebook 4 to measure. `gc_tutorial.optimizers` gives every built-in Keras optimizer a GC twin
# with both modes, taking its arguments plus `conv_only` and `centralize`:

# %%
from gc_tutorial.optimizers import GC_OPTIMIZERS

print(", ".join(gc_class.__name__ for gc_class in GC_OPTIMIZERS))
lion = gc_tutorial.make_optimizer("lion", gc=True, learning_rate=1e-4, centralize="update")
print(type(lion).__name__, lion.centralize, isinstance(lion, keras.optimizers.Lion))
