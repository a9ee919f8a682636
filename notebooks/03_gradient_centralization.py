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
# Part 3 of the tutorial: what GC does, the package's code that does it, a numeric check, and
# why the Keras example's version never runs in Keras 3.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install this tutorial's package; elsewhere, nothing
    package = "git+https://github.com/gc-tutorial/gc-tutorial"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)

# %% [markdown]
# ## Parameters
# The demonstrations below train a small model for a few steps with this learning rate.

# %% tags=["parameters"]
learning_rate: float = 0.0001
seed: int = 0

# %%
from gc_tutorial.parameters import resolve_parameters

settings = resolve_parameters(learning_rate=learning_rate, seed=seed)

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
# The optimizers get it through a mixin. Keras 3 optimizers on every backend apply gradients
# through `Optimizer.apply(grads, variables)`, so that is where the mixin centralizes them:

# %%
print(inspect.getsource(GradientCentralization.apply))
print(inspect.getsource(GradientCentralization._centralize))

# %% [markdown]
# `GCSGD`, `GCRMSprop`, `GCAdam` and `GCAdamW` are the Keras optimizers with this mixin in
# front; they take the same arguments, plus `conv_only`.

# %%
from gc_tutorial import GCRMSprop

print(GCRMSprop.__mro__[:3])
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
# and to this package's `GCRMSprop`, all from the same weights on the same batch:


# %%
class GetGradientsOverride(keras.optimizers.RMSprop):
    """RMSprop with the Keras 2 hook overridden, as the example does."""

    calls = 0

    def get_gradients(self, loss, params):
        GetGradientsOverride.calls += 1
        raise RuntimeError("get_gradients() was called")


def small_model():
    keras.utils.set_random_seed(settings.seed)
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )


data = np.random.default_rng(settings.seed)
images = data.random((32, 16, 16, 3), dtype="float32")
labels = data.integers(0, 2, size=32).astype("float32")


def train_a_few_steps(optimizer, steps=3):
    model = small_model()
    model.compile(optimizer=optimizer, loss="binary_crossentropy")
    for _ in range(steps):
        model.train_on_batch(images, labels)
    return model.get_weights()


lr = max(settings.learning_rate, 1e-3)  # large enough for differences to show in 3 steps
plain = train_a_few_steps(keras.optimizers.RMSprop(learning_rate=lr))
override = train_a_few_steps(GetGradientsOverride(learning_rate=lr))
with_gc = train_a_few_steps(GCRMSprop(learning_rate=lr))

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
# ## The constraint, seen in training
# With plain SGD, GC keeps the mean of each output unit's weights exactly where it started.
# We train the small model above with SGD, with and without GC, and follow the first
# convolution's per-unit weight means:


# %%
from gc_tutorial import make_optimizer


def unit_mean_drift(gc, steps=20):
    model = small_model()
    model.compile(
        optimizer=make_optimizer("sgd", gc=gc, learning_rate=0.1), loss="binary_crossentropy"
    )
    start = keras.ops.convert_to_numpy(model.layers[0].kernel).mean(axis=(0, 1, 2))
    drift = []
    for _ in range(steps):
        model.train_on_batch(images, labels)
        now = keras.ops.convert_to_numpy(model.layers[0].kernel).mean(axis=(0, 1, 2))
        drift.append(np.abs(now - start).max())
    return drift


figure, axis = plt.subplots(figsize=(6, 3))
axis.plot(unit_mean_drift(gc=False), label="SGD", color="tab:gray")
axis.plot(unit_mean_drift(gc=True), label="SGD + GC", color="tab:blue")
axis.set_xlabel("training step")
axis.set_ylabel("max |change of a unit's weight mean|")
axis.legend()
plt.show()
