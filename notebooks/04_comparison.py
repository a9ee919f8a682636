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
# # 4. Training with and without Gradient Centralization: a fair, timed comparison
#
# [Open in Colab](https://colab.research.google.com/github/gc-tutorial/gc-tutorial/blob/main/notebooks/04_comparison.ipynb)
#
# Part 4, the heart of the tutorial. For every seed we train two arms of the same model: a
# **baseline** with the plain Keras optimizer and a **GC** arm with its Gradient Centralization
# twin. The comparison is fair by construction:
#
# - both arms of a seed start from identical initial weights (the table records a fingerprint
#   of them) and see identical batches, augmentations and dropout masks;
# - they share the optimizer family, learning rate, epochs, batch size and data; the only
#   difference is GC;
# - we report test accuracy and loss, not only training accuracy, over several seeds, with the
#   paired difference per seed;
# - the first epoch, which includes graph tracing and filling the data cache, is timed apart
#   from the steady-state epochs.
#
# The Keras example instead trained its GC run from the baseline's already trained weights,
# with a GC that Keras 3 never called (see notebook 3).

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install this tutorial's package; elsewhere, nothing
    package = "git+https://github.com/gc-tutorial/gc-tutorial"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)

# %% [markdown]
# ## Parameters
# The defaults are the real tutorial: horses_or_humans at 300x300, RMSprop at 1e-4, 10 epochs,
# three seeds. With papermill, for example:
# `papermill 04_comparison.ipynb out.ipynb -p dataset digits -p augment False -p epochs 5`.
# A misspelt name (`-p epoch 5`) stops the notebook with the closest real name. In quick mode
# (`GC_TUTORIAL_QUICK=1`, set by the tests) every parameter you did not pass switches to a
# small run on scikit-learn's real handwritten digits; the banner lists what was overridden.

# %% tags=["parameters"]
dataset: str = "horses_or_humans"  # tfds name, image folder, "digits" or "synthetic"
data_dir: str = None  # tensorflow-datasets data_dir holding a prepared copy
image_size: int = 300  # images are resized to image_size x image_size
batch_size: int = 128  # examples per batch
epochs: int = 10  # epochs per arm
optimizer: str = "rmsprop"  # Keras optimizer name: sgd, rmsprop, adam, adamw, ...
learning_rate: float = 0.0001  # shared by both arms
momentum: float = None  # momentum of sgd or rmsprop (None: the optimizer's default)
seeds: list = [0, 1, 2]  # one paired baseline/GC comparison per seed
conv_only: bool = False  # GC arm centralizes convolution kernels only
centralize: str = "gradient"  # GC arm centralizes the "gradient" (the paper) or the "update"
augment: bool = True  # flip/rotate/zoom the training images (not for digits)
max_examples: int = None  # cap on the examples of each split (None: all)
precision: str = "float32"  # "mixed_bfloat16": bfloat16 compute, float32 weights and GC
output_dir: str = "results/comparison"  # tables, plots and results.json go here

# %%
from gc_tutorial.parameters import resolve_parameters

settings = resolve_parameters(
    dataset=dataset,
    data_dir=data_dir,
    image_size=image_size,
    batch_size=batch_size,
    epochs=epochs,
    optimizer=optimizer,
    learning_rate=learning_rate,
    momentum=momentum,
    seeds=seeds,
    conv_only=conv_only,
    centralize=centralize,
    augment=augment,
    max_examples=max_examples,
    precision=precision,
    output_dir=output_dir,
)
config = settings.config()  # one ComparisonConfig: every setting both arms share
config

# %% [markdown]
# ## Run the comparison
# `run_comparison` trains the arms one after the other, seed by seed, printing one line per
# epoch. A run whose loss is not finite, or whose training loss exceeds 10 times the loss of
# guessing uniformly (10 ln(classes): 6.9 for two classes), is stopped and marked as diverged;
# the others go on.

# %%
from gc_tutorial.experiment import run_comparison

result = run_comparison(config, output_dir=settings.output_dir)

# %% [markdown]
# ## Comparing performance
# Mean +- standard deviation over seeds, test metrics first, then the paired difference
# GC - baseline for each seed and its 95% confidence interval.
#
# **How to read the interval.** Both arms of a seed start from the same weights and see the
# same batches, so each seed gives one difference. The interval is where the mean difference
# plausibly lies. If it contains 0, these seeds cannot tell GC from the baseline: that is
# "no detectable difference", not proof that there is none; more seeds narrow it. The p-value
# comes from a sign-flip permutation test: how often flipping the signs of the differences at
# random gives a mean at least this far from 0. A difference is **detected** (GC helped or hurt
# at this setting) only when the interval lies entirely above (or below) 0 *and* p <= 0.05. With
# n seeds there are only 2^n sign patterns, so p can never be below 2/2^n: 0.25 with the default
# 3 seeds, 0.5 with quick mode's 2. So 3 seeds never detect a difference; an interval that
# excludes 0 there is a hint, and notebook 6's many-seed study is the evidence.

# %%
print(result.report())

# %% [markdown]
# ## Learning curves
# The line is the mean over seeds, the band spans the lowest and highest seed.

# %%
import matplotlib.pyplot as plt

from gc_tutorial.plots import plot_epoch_times, plot_final_accuracy, plot_learning_curves

plot_learning_curves(result.history)
plt.show()

# %% [markdown]
# ## Final test accuracy, seed by seed
# Each line joins the two arms of one seed: they started from the same weights and saw the
# same data, so the slope is GC's effect for that seed.

# %%
plot_final_accuracy(result.history)
plt.show()

# %% [markdown]
# ## Time per epoch
# Epoch 1 includes graph tracing and the first pass through the data; later epochs show what
# GC costs per epoch (`benchmarks/gc_overhead.py` measures it per step).

# %%
plot_epoch_times(result.history)
plt.show()

# %% [markdown]
# ## The tables
# One row per arm, then one row per seed (GC - baseline). The full per-epoch table, the plots
# and a `results.json` with the parameters, versions and machine are in `output_dir`.

# %%
result.summary

# %%
result.paired

# %% [markdown]
# The paired statistics of every metric (GC - baseline; `n` seeds, Student-t interval,
# permutation p-value, wins/ties/losses of GC, effect size = mean / std):

# %%
result.statistics

# %%
print("Results written to", result.output_dir.resolve())
