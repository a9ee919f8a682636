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
from gc_tutorial.parameters import resolve_parameters

settings = resolve_parameters(
    seed=seed,
    demo_learning_rate=demo_learning_rate,
    sgd_learning_rate=sgd_learning_rate,
    weight_decay=weight_decay,
    demo_steps=demo_steps,
)
lr, steps = settings.demo_learning_rate, settings.demo_steps

# %% [markdown]
# ## The idea
# Yong et al. (2020, [arXiv:2004.01461](https://arxiv.org/abs/2004.01461)) centralize the
# gradient of each weight of rank > 1. Keras keeps a kernel's output units on its last axis
# (Dense `(in, out)`, Conv2D `(kh, kw, in, out)`); with $M$ the entries feeding output unit $j$:
#
# $$\Phi_{GC}(\nabla_{W} \mathcal{L})_{:,j} = \nabla_{W_{:,j}} \mathcal{L} - \frac{1}{M} \sum_{i=1}^{M} \nabla_{W_{i,j}} \mathcal{L}$$
#
# Each output unit's gradient then has zero mean. It is a projection: linear, and applying it
# twice changes nothing.
#
# ## Write it yourself
# Keras 3 optimizers apply gradients in `apply(grads, trainable_variables=None)`, on every
# backend. A GC optimizer overrides it: centralize each gradient of rank > 1 with `keras.ops`,
# then let RMSprop do the rest.

# %%
import keras


class GCRMSprop(keras.optimizers.RMSprop):
    """RMSprop with Gradient Centralization."""

    def apply(self, grads, trainable_variables=None):
        centralized = []
        for grad in grads:
            if len(grad.shape) > 1:  # a kernel: its output units are on the last axis
                axes = tuple(range(len(grad.shape) - 1))
                grad = grad - keras.ops.mean(grad, axis=axes, keepdims=True)
            centralized.append(grad)
        return super().apply(centralized, trainable_variables)


# %% [markdown]
# ## Did GC run? `verify_gc`
# `verify_gc` trains a probe model for two steps with (a copy of) the optimizer, with the plain
# Keras optimizer it builds on and with that optimizer's GC twin, and says which one it trains
# like: "gradient" (GC on the gradient), "update" (GC on the update, below), "none" or "other".

# %%
from gc_tutorial import verify_gc

print(verify_gc(GCRMSprop(learning_rate=lr)))

# %% [markdown]
# The Keras example puts GC in an override of `get_gradients()`, a method of the Keras 2
# optimizers. Keras 3 never calls it, so its "GC" run was plain RMSprop (and its `keep_dims`
# argument would fail if it ever ran):


# %%
class KerasExampleRMSprop(keras.optimizers.RMSprop):
    def get_gradients(self, loss, params):
        raise RuntimeError("get_gradients() was called")


print(verify_gc(KerasExampleRMSprop(learning_rate=lr)))

# %% [markdown]
# ## The package's GC: the same idea
# `gc_tutorial.GCRMSprop` trains the probe model weight for weight like the class above (on
# PyTorch up to float rounding: there Keras's RMSprop updates all weights in one fused step):

# %%
import numpy as np

import gc_tutorial
from gc_tutorial.verify import train_probe_model

yours = train_probe_model(GCRMSprop(learning_rate=lr), steps=steps)
package = train_probe_model(gc_tutorial.GCRMSprop(learning_rate=lr), steps=steps)
plain = train_probe_model(keras.optimizers.RMSprop(learning_rate=lr), steps=steps)
for name, other in (("gc_tutorial.GCRMSprop", package), ("plain RMSprop", plain)):
    difference = max(np.abs(a - b).max() for a, b in zip(yours, other))
    print(f"largest weight difference from {name}: {difference:.2g}")

# %% [markdown]
# Its code is the same override, written once as a mixin that goes in front of any Keras
# optimizer (`class GCSGD(GradientCentralization, keras.optimizers.SGD)`), with two additions:
# `conv_only` centralizes convolution kernels only, and a missing gradient stays missing.
# `centralize_gradient` is the subtraction above.

# %%
import inspect

print(inspect.getsource(gc_tutorial.GradientCentralization))

# %% [markdown]
# A random Conv2D-shaped gradient whose 8 output units have different means, before and after
# `centralize_gradient`:

# %%
from gc_tutorial import centralize_gradient

rng = np.random.default_rng(settings.seed)
gradient = rng.normal(loc=np.linspace(-2, 2, 8), size=(3, 3, 4, 8)).astype("float32")
centralized = keras.ops.convert_to_numpy(centralize_gradient(gradient))
print("unit means before:", gradient.mean(axis=(0, 1, 2)).round(2))
print("largest |unit mean| after:", np.abs(centralized.mean(axis=(0, 1, 2))).max())

# %% [markdown]
# ## The constraint, and GC's two modes
# With SGD the step is the gradient times a number, so GC keeps the mean of each output unit's
# weights where it started. Adaptive optimizers (RMSprop, Adam, ...) divide each entry of the
# gradient by its own running scale, and weight decay adds a multiple of the weights: their
# step is no longer centralized and the unit means drift, only more slowly than without GC.
# The authors' code therefore has a switch, `gc_loc`: centralize the gradient, or the quantity
# that updates the weight (suggested for adaptive optimizers). Here it is
# `centralize="gradient"` (the default) or `centralize="update"`, in `gc_tutorial.update_mode`:
# the change a step makes to each weight of rank > 1, weight decay included, is centralized.

# %%
print(inspect.getsource(gc_tutorial.UpdateCentralization._backend_update_step))

# %% [markdown]
# `unit_mean_drift` trains the probe model and follows, step by step, how far any output unit's
# weight mean has moved: SGD, and AdamW with weight decay, without GC and with it:

# %%
import matplotlib.pyplot as plt

from gc_tutorial.verify import unit_mean_drift

adamw = dict(learning_rate=lr, weight_decay=settings.weight_decay)
panels = {
    "SGD": {
        "SGD": keras.optimizers.SGD(settings.sgd_learning_rate),
        "GCSGD": gc_tutorial.GCSGD(settings.sgd_learning_rate),
    },
    "AdamW with weight decay": {
        "AdamW": keras.optimizers.AdamW(**adamw),
        'GCAdamW, centralize="gradient"': gc_tutorial.GCAdamW(**adamw),
        'GCAdamW, centralize="update"': gc_tutorial.GCAdamW(**adamw, centralize="update"),
    },
}
figure, axes = plt.subplots(1, 2, figsize=(10, 3))
for axis, (title, optimizers) in zip(axes, panels.items()):
    for name, optimizer in optimizers.items():
        axis.plot(unit_mean_drift(optimizer, steps=steps), label=name)
    axis.set(title=title, xlabel="training step")
    axis.legend()
axes[0].set(ylabel="max |change of a unit's weight mean|")
plt.show()
print(verify_gc(gc_tutorial.GCAdamW(**adamw, centralize="update")))

# %% [markdown]
# With SGD, GC holds the unit means; with AdamW only `centralize="update"` does (up to float
# rounding). Which trains better is an empirical question: notebook 4 compares training with
# and without GC.
#
# ## Every Keras optimizer, with GC
# `gc_tutorial.optimizers` gives each built-in Keras optimizer a GC twin with both modes, the
# mixin in front of the Keras class: it takes every argument of that class plus `conv_only`
# and `centralize`. `make_optimizer` builds one by name.

# %%
from gc_tutorial import GC_OPTIMIZERS, make_optimizer

print(", ".join(gc_class.__name__ for gc_class in GC_OPTIMIZERS))
lion = make_optimizer("lion", gc=True, learning_rate=1e-4, centralize="update")
print(type(lion).__name__, lion.centralize, isinstance(lion, keras.optimizers.Lion))
