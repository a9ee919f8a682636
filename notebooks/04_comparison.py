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
# - both arms of a seed start from the same initial weights, built once from the seed and
#   copied into each arm (the table records a fingerprint of them), and see the same batches,
#   augmentations and dropout masks, all seeded explicitly;
# - they share the optimizer family, learning rate, epochs, batch size and data; the only
#   difference is GC;
# - we report test accuracy and loss over several seeds, with the paired difference per seed;
# - the first epoch, which includes graph tracing and filling the data cache, is timed apart.
#
# The Keras example instead trained its GC run from the baseline's already trained weights,
# with a GC that Keras 3 never called (see notebook 3).

# %%
# !python -c "import google.colab" 2>/dev/null && pip install -q "gc-tutorial @ git+https://github.com/gc-tutorial/gc-tutorial"

# %% [markdown]
# ## Parameters
# The defaults are the real tutorial: horses_or_humans at 300x300, RMSprop at 1e-4, 10 epochs,
# three seeds. With papermill: `papermill 04_comparison.ipynb out.ipynb -p dataset digits
# -p augment False -p epochs 5`. A misspelt name (`-p epoch 5`) stops the notebook with the
# closest real name. In quick mode (`GC_TUTORIAL_QUICK=1`, set by the tests) every parameter
# still at its default switches to a small run on scikit-learn's real handwritten digits.

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

# %% [markdown]
# `resolve_parameters` reads the cell above, checks every value as the config does, and prints
# what is in force; `config` is the one `ComparisonConfig` both arms share.

# %%
from gc_tutorial.parameters import resolve_parameters

settings = resolve_parameters(globals())
config = settings.config()
config

# %% [markdown]
# ## Run the comparison
# `run_comparison` trains the arms one after the other, seed by seed. A run whose loss is not
# finite, or whose training loss exceeds 10 times the loss of guessing uniformly (10 ln(classes):
# 6.9 for two classes), is stopped and marked as diverged; the others go on.

# %%
from gc_tutorial.comparison import run_comparison

result = run_comparison(config, output_dir=settings.output_dir, verbose=0)

# %% [markdown]
# ## Comparing performance, and how to read the statistics
# The report gives each arm's mean +- standard deviation over seeds, then the paired difference
# GC - baseline with its 95% confidence interval. Notebooks 5 and 6 read their statistics the
# same way, as explained here.
#
# - **Paired differences.** Both arms of a seed start from the same weights and see the same
#   batches, so each seed gives one difference GC - baseline.
# - **The interval** is where the mean difference plausibly lies (Student t, 95%). If it
#   contains 0, these seeds cannot tell GC from the baseline: "no detectable difference", not
#   proof that there is none; more seeds narrow it.
# - **The p-value** comes from a sign-flip permutation test: how often flipping the signs of the
#   differences at random gives a mean at least this far from 0. With n seeds there are only 2^n
#   sign patterns, so p is never below 2/2^n: 0.25 with 3 seeds, 0.5 with quick mode's 2; p <=
#   0.05 needs 6 seeds or more.
# - **Detected** (GC helped or hurt at this setting) means the interval lies entirely above or
#   below 0 *and* p <= 0.05. A diverged run stops early, so it never counts as a difference.
# - **Many comparisons at once.** Even if GC changed nothing, one 95% interval in twenty excludes
#   0 by chance: in a grid of many settings, a single detection among many is weak evidence.

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
# Each line joins the two arms of one seed: the slope is GC's effect for that seed.

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
# The paired statistics of every metric (GC - baseline; `n` seeds, interval, p-value,
# wins/ties/losses of GC, effect size = mean / std). The per-epoch table, the plots and a
# `results.json` with the parameters, versions and machine are in `output_dir`.

# %%
result.statistics
