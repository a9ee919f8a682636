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
# Part 4, the heart of the tutorial. We train the same model twice: a **baseline** with the
# plain Keras optimizer and a **GC** arm with its Gradient Centralization twin, and compare
# them. First for one seed, by hand, in plain Keras; then for every seed with
# `run_comparison`, which does exactly the same and adds the statistics over seeds.
#
# The Keras example instead trained its GC run from the baseline's already trained weights,
# with a GC that Keras 3 never called (see notebook 3).

# %%
# !python -c "import google.colab" 2>/dev/null && pip install -q "gc-tutorial @ git+https://github.com/gc-tutorial/gc-tutorial"

# %% [markdown]
# ## Parameters
# The defaults are the real tutorial: horses_or_humans at 300x300, RMSprop at 1e-4, 10 epochs,
# three seeds. With papermill: `papermill 04_comparison.ipynb out.ipynb -p dataset digits
# -p augment False -p epochs 5`. In quick mode (`GC_TUTORIAL_QUICK=1`, set by the tests) every
# parameter still at its default, and not passed with `-p`, switches to a small run on
# scikit-learn's real handwritten digits.

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
output_dir: str = None  # if set, tables, plots and results.json are saved there
tensorboard_dir: str = None  # TensorBoard logs of every arm go here (None: none)
by_hand: bool = True  # train the first seed by hand first

# %%
from gc_tutorial.parameters import check_parameters

config = check_parameters(globals()).config()

# %% [markdown]
# ## One seed, by hand
# A fair comparison changes one thing, GC, and keeps everything else:
#
# - **the same initial weights**: `build_model(..., seed=seed)` seeds every initializer, and the
#   GC arm gets the baseline's starting weights with `set_weights`;
# - **the same batches**: `keras.utils.set_random_seed(seed)` before each arm builds its
#   `tf.data` pipeline, which shuffles and augments under that seed (a pipeline iterated again
#   would reshuffle, so each arm builds its own); dropout masks come from the seeded layers;
# - **the same optimizer settings, epochs and test split**; the GC arm's optimizer is the
#   baseline's GC twin (`make_optimizer(..., gc=True)`);
# - **honest numbers**: accuracy and loss on the test split, and each epoch's training time
#   apart from its evaluation (`EpochTimer`, a small Keras callback).

# %%
import keras
import pandas as pd
import tensorflow as tf

from gc_tutorial.comparison import EpochTimer, dtype_policy, float32_output
from gc_tutorial.data import load_dataset
from gc_tutorial.model import build_model, loss_for
from gc_tutorial.optimizers import make_optimizer

tf.config.experimental.enable_op_determinism()  # the same seed gives the same numbers
seed = seeds[0]


def train_by_hand(gc, start=None):
    keras.utils.set_random_seed(seed)  # tf.data shuffles under this global seed
    train_ds, test_ds, info = load_dataset(
        dataset,
        data_dir=data_dir,
        image_size=image_size,
        batch_size=batch_size,
        augment=augment,
        max_examples=max_examples,
        seed=seed,
    )
    with dtype_policy(precision):  # float32, or bfloat16 compute with a float32 output
        model = float32_output(build_model(info.image_shape, info.num_classes, seed=seed))
        if start is not None:
            model.set_weights(start)  # the GC arm starts where the baseline started
        start = model.get_weights()
        gc_options = {"conv_only": conv_only, "centralize": centralize} if gc else {}
        options = {**gc_options, **config.optimizer_options()}  # momentum, if set
        model.compile(
            optimizer=make_optimizer(optimizer, gc=gc, learning_rate=learning_rate, **options),
            loss=loss_for(info.num_classes),
            metrics=["accuracy"],
        )
        timer = EpochTimer()
        fit = model.fit(
            train_ds,
            validation_data=test_ds,
            epochs=epochs,
            callbacks=[timer],
            shuffle=False,  # train_ds is shuffled already, by the seed
            verbose=2,
        )
        test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)
    steady = timer.train_times[1:] or timer.train_times  # epoch 1 includes tracing
    seconds = sum(steady) / len(steady)
    return start, fit.history, [test_accuracy, test_loss, seconds]


# %% [markdown]
# The baseline, then the GC arm from the baseline's initial weights, side by side (Keras prints
# one line per epoch):

# %%
if by_hand:
    start, baseline_logs, baseline = train_by_hand(gc=False)
    _, gc_logs, gc = train_by_hand(gc=True, start=start)
    rows = ["final test accuracy", "final test loss", "steady epoch time (s)"]
    print(pd.DataFrame({"baseline": baseline, "GC": gc}, index=rows).round(4))

# %% [markdown]
# ## Every seed: `run_comparison`
# One seed says little: another seed gives other initial weights and batches, and the
# difference between the arms moves with it. `run_comparison` does exactly the above for every
# seed, then pairs the arms seed by seed. Two things make it faster and change no number: it
# trains 32 steps per call into TensorFlow, and each arm's compiled model trains every seed
# (set to that seed's weights, dropout seeds and a fresh optimizer state), so that Keras
# traces its step once per arm. A run whose loss is not finite, or whose training loss
# exceeds 10 times the loss of guessing uniformly (10 ln(classes): 6.9 for two classes), is
# stopped and marked as diverged; the others go on. With `tensorboard_dir` set, each arm of each
# seed also writes TensorBoard logs (`tensorboard --logdir <tensorboard_dir>`; in Colab,
# `%load_ext tensorboard` then `%tensorboard --logdir <tensorboard_dir>`).

# %%
from gc_tutorial.comparison import run_comparison

result = run_comparison(config, output_dir=output_dir, tensorboard_dir=tensorboard_dir, verbose=0)

# %% [markdown]
# Its first seed is the one trained by hand, epoch for epoch (same losses, same accuracies):

# %%
if by_hand:
    first = result.history[result.history["seed"] == seed].set_index("arm")
    for arm, logs in (("baseline", baseline_logs), ("gc", gc_logs)):
        same = list(first.loc[arm, "train_loss"]) == logs["loss"]
        same &= list(first.loc[arm, "test_accuracy"]) == logs["val_accuracy"]
        print(f"{arm}: run_comparison equals the run by hand in every epoch: {same}")

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
# Epoch 1 fills the data cache, and in the first seed Keras also traces the training step;
# later epochs show what GC costs per epoch (`benchmarks/gc_overhead.py` measures it per step).

# %%
plot_epoch_times(result.history)
plt.show()

# %% [markdown]
# ## The tables
# The paired statistics of every metric (GC - baseline; `n` seeds, interval, p-value,
# wins/ties/losses of GC, effect size = mean / std). With `output_dir` set (batch runs set it),
# the per-epoch table, the plots and a `results.json` with the parameters, versions and
# machine are saved there, written whole.

# %%
result.statistics
