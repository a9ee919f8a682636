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
# Part 3 of the tutorial: what GC does, the package's code that does it, a numeric check, why
# the Keras example's version never runs in Keras 3, and GC's two modes: centralizing the
# gradient or the update.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install this tutorial's package; elsewhere, nothing
    package = "git+https://github.com/gc-tutorial/gc-tutorial"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)

# %% [markdown]
# ## Parameters
# The demonstrations below train a tiny probe model (a Conv2D and a Dense layer) for
# `demo_steps` steps: RMSprop and AdamW at `demo_learning_rate`, large enough for differences to
# show in a few steps, SGD at `sgd_learning_rate`, AdamW with `weight_decay`. `seed` draws the
# random gradient of the numeric check.

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

# %% [markdown]
# ## The idea
# Yong et al. (2020, [arXiv:2004.01461](https://arxiv.org/abs/2004.01461)) centralize the
# gradient of each weight vector. For a weight $W$ of rank > 1 whose last axis indexes the
# output units (Keras: Dense `(in, out)`, Conv2D `(kh, kw, in, out)`), with $M$ the number of
# entries feeding one output unit $j$:
#
# $$\Phi_{GC}(\nabla_{W} \mathcal{L})_{:,j} = \nabla_{W_{:,j}} \mathcal{L} - \frac{1}{M} \sum_{i=1}^{M} \nabla_{W_{i,j}} \mathcal{L}$$
#
# Each output unit's gradient then has zero mean. It is a projection: linear, and applying it
# twice changes nothing. With plain SGD it keeps the mean of every unit's weights where it
# started, which the paper reads as a constraint on the weight space that regularizes training.
#
# ## The code
# This is the package's real implementation, shown with `inspect.getsource`:

# %%
import inspect

from gc_tutorial import GradientCentralization, centralize_gradient

print(inspect.getsource(centralize_gradient))

# %% [markdown]
# The optimizers get it through a mixin. Keras 3 optimizers on every backend (TensorFlow, JAX,
# PyTorch) apply gradients through `Optimizer.apply(grads, variables)`, so that is where the
# mixin centralizes them:

# %%
print(inspect.getsource(GradientCentralization.apply))
print(inspect.getsource(GradientCentralization._prepare_gradient))

# %% [markdown]
# Every built-in Keras optimizer has a GC twin: the Keras optimizer with this mixin in front,
# built by one factory. A twin takes the same arguments, plus `conv_only` and `centralize`
# (see "Two modes" below).

# %%
from gc_tutorial import OPTIMIZERS, GCRMSprop

print(", ".join(gc_class.__name__ for _, gc_class in OPTIMIZERS.values()))
print(inspect.signature(GCRMSprop))

# %% [markdown]
# ## A numeric check: zero mean per output unit
# A random Conv2D-shaped gradient with a different mean for each of its 8 output units,
# before and after centralization:

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

rng = np.random.default_rng(settings.seed)
gradient = rng.normal(loc=np.linspace(-2, 2, 8), size=(3, 3, 4, 8)).astype("float32")
centralized = keras.ops.convert_to_numpy(centralize_gradient(keras.ops.convert_to_tensor(gradient)))
means_before = gradient.mean(axis=(0, 1, 2))
means_after = centralized.mean(axis=(0, 1, 2))
print("largest |mean| per output unit, before:", np.abs(means_before).max())
print("largest |mean| per output unit, after: ", np.abs(means_after).max())

figure, axis = plt.subplots(figsize=(6, 3))
units = np.arange(8)
axis.bar(units - 0.2, means_before, width=0.4, label="before GC", color="tab:gray")
axis.bar(units + 0.2, means_after, width=0.4, label="after GC", color="tab:blue")
axis.set_xlabel("output unit")
axis.set_ylabel("mean of its gradient")
axis.legend()
plt.show()

# %% [markdown]
# ## Why overriding `get_gradients()` does nothing in Keras 3
# The Keras example puts GC in an override of `get_gradients()`, a method of the Keras 2
# optimizers. Keras 3 optimizers never call it. Here is an optimizer whose `get_gradients()`
# counts its calls (and would fail loudly if it were reached), trained next to plain RMSprop
# and to this package's `GCRMSprop`, all from the same weights on the same batch (the probe
# model of `verify_gc`, below):


# %%
from gc_tutorial.verify import train_probe_model


class GetGradientsOverride(keras.optimizers.RMSprop):
    """RMSprop with the Keras 2 hook overridden, as the example does."""

    calls = 0

    def get_gradients(self, loss, params):
        GetGradientsOverride.calls += 1
        raise RuntimeError("get_gradients() was called")


lr, steps = settings.demo_learning_rate, settings.demo_steps
plain = train_probe_model(keras.optimizers.RMSprop(learning_rate=lr), steps=steps)
override = train_probe_model(GetGradientsOverride(learning_rate=lr), steps=steps)
with_gc = train_probe_model(GCRMSprop(learning_rate=lr), steps=steps)

print("get_gradients() calls:", GetGradientsOverride.calls)
print(
    "override == plain RMSprop, weight for weight:",
    all(np.array_equal(a, b) for a, b in zip(override, plain)),
)
print("GCRMSprop == plain RMSprop:", all(np.array_equal(a, b) for a, b in zip(with_gc, plain)))

# %% [markdown]
# The override is never called and its weights are exactly plain RMSprop's: the example's "GC"
# run was plain RMSprop. (Its override also passes `keep_dims` to `keras.ops.mean`, which takes
# `keepdims`, so it would fail if it ever ran.) `GCRMSprop` does change the training.
#
# ## Did GC run? `verify_gc`
# Any Keras optimizer can be checked this way, without reading its code: `verify_gc` trains the
# same probe model for two steps through `fit()` with (a copy of) the optimizer, with the plain
# Keras optimizer it builds on, and with that optimizer's GC twin in each mode, and says which
# one it trains like: "gradient", "update", "none" or "other".

# %%
from gc_tutorial import verify_gc

for optimizer in (GetGradientsOverride(learning_rate=lr), GCRMSprop(learning_rate=lr)):
    print(verify_gc(optimizer))

# %% [markdown]
# Each line names the verdict and the numbers behind it: how far the optimizer's training is
# from each reference, relative to the size of the plain optimizer's steps.
#
# ## The constraint, seen in training
# With plain SGD, GC keeps the mean of each output unit's weights exactly where it started.
# `unit_mean_drift` trains the probe model with an optimizer and follows, step by step, how far
# any output unit's weight mean has moved from its start; here SGD, with and without GC:

# %%
from gc_tutorial import make_optimizer
from gc_tutorial.verify import unit_mean_drift

figure, axis = plt.subplots(figsize=(6, 3))
for gc, label, color in ((False, "SGD", "tab:gray"), (True, "SGD + GC", "tab:blue")):
    sgd = make_optimizer("sgd", gc=gc, learning_rate=settings.sgd_learning_rate)
    axis.plot(unit_mean_drift(sgd, steps=steps), label=label, color=color)
axis.set_xlabel("training step")
axis.set_ylabel("max |change of a unit's weight mean|")
axis.legend()
plt.show()


# %% [markdown]
# ## Two modes: centralize the gradient or the update
# With SGD, the step is the gradient times a number, so a centralized gradient gives a
# centralized step and the unit means stay put. Adaptive optimizers (RMSprop, Adam, ...)
# divide each entry of the gradient by its own running scale, and weight decay adds a multiple
# of the weights: the step that reaches the weights is no longer centralized, and the unit
# means drift, only more slowly than without GC.
#
# The authors' PyTorch optimizers therefore have a switch, `gc_loc`: centralize the gradient
# (`gc_loc=True`) or the "generalized gradient", the quantity directly used to update the
# weight (`gc_loc=False`; `Adam_GC2` in their first code). Their README for these optimizers
# suggests `gc_loc=False` for adaptive learning rate algorithms. Here the switch is
# `centralize="gradient"` (the default, the paper's GC) or `centralize="update"`: the change a
# step makes to each weight of rank > 1, weight decay included, is centralized, so each output
# unit's weight mean stays exactly where it was, for any optimizer. For SGD the two agree.
#
# The mixin remembers the weights when a step starts and, right after the optimizer's update
# (before any moving average of the weights), sets each weight to
# `start + centralize_gradient(new - start)`:

# %%
print(inspect.getsource(GradientCentralization._backend_apply_gradients))
print(inspect.getsource(GradientCentralization._backend_update_step))

# %% [markdown]
# AdamW with weight decay, plain, with GC on the gradient and with GC on the update, trained
# from the same weights on the same batch:


# %%
from gc_tutorial import GCAdamW

adamw = dict(learning_rate=lr, weight_decay=settings.weight_decay)
figure, axis = plt.subplots(figsize=(6, 3))
drift = unit_mean_drift(keras.optimizers.AdamW(**adamw), steps=steps)
axis.plot(drift, label="AdamW", color="tab:gray")
for centralize, color in (("gradient", "tab:blue"), ("update", "tab:orange")):
    drift = unit_mean_drift(GCAdamW(**adamw, centralize=centralize), steps=steps)
    axis.plot(drift, label=f'GCAdamW, centralize="{centralize}"', color=color)
axis.set_xlabel("training step")
axis.set_ylabel("max |change of a unit's weight mean|")
axis.legend()
plt.show()
print(verify_gc(GCAdamW(**adamw, centralize="update")))

# %% [markdown]
# With `centralize="update"` the line stays at zero (up to float rounding); GC on the gradient
# only slows the drift down. Which one trains better is an empirical question for each task:
# notebook 4 compares training with and without GC, and `make_optimizer(..., centralize=...)`
# selects the mode there too.
