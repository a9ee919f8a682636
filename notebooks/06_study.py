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
# # 6. The study: does GC help, with many seeds and honest statistics?
#
# [Open in Colab](https://colab.research.google.com/github/gc-tutorial/gc-tutorial/blob/main/notebooks/06_study.ipynb)
#
# Part 6. Parts 4 and 5 compare a few seeds. Here we read the committed study (`docs/study/`):
# four optimizers (SGD with momentum 0.9, RMSprop, Adam, AdamW), three learning rates each,
# ten seeds, both arms, on scikit-learn's real handwritten **digits** and on the **synthetic**
# discs-and-rings set. Neither is horses_or_humans (it cannot be downloaded offline), so these
# numbers say nothing about horses and humans.
#
# The two datasets are not equally good tests. The CNN learns **digits**: at the best learning
# rates both arms end at 0.90 to 0.96 test accuracy, so a difference there is a difference in how
# well it learned. It barely learns **synthetic** at this size and length: in every cell of the
# grid the baseline's mean final test accuracy is 0.50 to 0.57, on two classes where chance is
# 0.5. A difference between two arms that both sit near chance says little about GC, so read the
# synthetic results as a weak test, not as evidence for or against it.
#
# Both run at `image_size` 24 for 15 epochs (batch 64, no augmentation), much smaller than the
# Keras example's 300 px. The digits split is the same for every seed; the synthetic images are
# generated from the seed, so each seed trains and tests on a new synthetic set (shared by its two
# arms).
#
# The study was made by one command per dataset, its cells on one-thread Dask workers, one per
# core (it resumes if interrupted):
#
# ```bash
# python -m gc_tutorial.study --dataset digits
# python -m gc_tutorial.study --dataset synthetic
# ```
#
# Every cell runs with one TensorFlow thread wherever it runs, so `--sequential` (one cell at
# a time in this process) gives the same numbers, more slowly.
#
# This notebook trains nothing: it recomputes every table from `study.csv` and draws the plots.

# %%
# !python -c "import google.colab" 2>/dev/null && pip install -q "gc-tutorial @ git+https://github.com/gc-tutorial/gc-tutorial"

# %% [markdown]
# ## Parameters
# `study_dir` is a folder that `python -m gc_tutorial.study` wrote; by default the committed
# study, which ships with the package (so this notebook needs nothing beside it).

# %% tags=["parameters"]
study_dir: str = None  # a study's folder (None: the committed study)

# %%
from gc_tutorial.grids.parameters import check_grid_parameters

parameters = check_grid_parameters(globals())

# %% [markdown]
# ## What was run, where, and how long it took
# `study.json` records each dataset's settings, grid, seeds, machine, wall time and the command
# that runs it again.

# %%
from pathlib import Path

from gc_tutorial.grids.study_outputs import committed_study, load_study_record
from gc_tutorial.grids.study_report import study_runs_table

folder = Path(study_dir) if study_dir else committed_study()
record = load_study_record(folder)
study_runs_table(record)

# %% [markdown]
# At 24 px the CNN is not quite the example's: a 2x2 max-pooling follows a convolution only where
# enough pixels remain for the convolutions after it, so it keeps 2 of its 5 poolings (after the
# first and the last convolution; at 300 px it keeps all five).

# %%
from gc_tutorial.model import pooled_convolutions

{dataset: pooled_convolutions(run["settings"]["image_size"]) for dataset, run in record.items()}

# %% [markdown]
# ## The tidy record
# One row per dataset x optimizer x learning rate x seed x arm x epoch. Everything below is
# computed from this table alone.

# %%
import pandas as pd

study = pd.read_csv(folder / "study.csv")
print(f"{len(study)} rows;", study.groupby("dataset")["seed"].nunique().to_dict(), "seeds")
study.head()

# %% [markdown]
# ## Paired differences, configuration by configuration
# For every cell of the grid, `summarize_study` pairs the two arms of each seed (same initial
# weights, same batches) and summarizes GC - baseline of the final test accuracy with
# `paired_summary`: the mean, a 95% Student-t confidence interval, a sign-flip permutation
# p-value, and how many seeds GC won, tied and lost.

# %%
from gc_tutorial.grids.tables import compare_at_best_learning_rates as at_best_table
from gc_tutorial.grids.tables import epochs_to_target, summarize_study

summary = summarize_study(study)
summary.round(4)

# %% [markdown]
# ## The forest plot
# One line per configuration: the dot is the mean paired difference GC - baseline, the bar its
# 95% interval, the dashed line zero. The statistics read as in
# [notebook 4](04_comparison.ipynb) (*how to read the statistics*). A hollow grey dot is no
# detectable difference; a solid dot is a detected one, blue where GC ended with higher test
# accuracy, red where lower; a hollow dot on a bar that misses zero is not a detection (the
# sign-flip test disagrees, or runs diverged: the label counts them, baseline / GC). The last
# lines compare each arm at **its own** best learning rate (next section).

# %%
import matplotlib.pyplot as plt

from gc_tutorial.grids.plots import plot_best_learning_rates, plot_epochs_to_target, plot_forest

at_best = at_best_table(study)
plot_forest(summary, at_best)
plt.show()

# %% [markdown]
# ## Each arm at its own best learning rate
# GC changes the gradient, so it may simply move the best learning rate: comparing both arms
# at one learning rate can favour either. A fair claim lets each arm pick its own. The pick
# uses the **training** loss (mean over seeds of the final training loss; a diverged run counts
# as infinitely bad), never the test set, so the test accuracy below is not tuned on.
#
# Two rows per dataset: first the final training loss against the learning rate (the star marks
# each arm's pick), then the final test accuracy. Bands span the lowest and highest seed.

# %%
plot_best_learning_rates(study)
plt.show()

# %%
at_best.round(4)

# %% [markdown]
# ## Does GC train faster?
# The paper claims GC speeds up training. At each arm's best learning rate, the first epoch at
# which the test accuracy reaches a target (0.9 for digits, 0.6 for synthetic), per seed; the
# paired summary is over the seeds where both arms reached it (negative: GC got there sooner).
# The curves are the mean test accuracy per epoch.

# %%
reach = epochs_to_target(study)
plot_epochs_to_target(study, reach)
plt.show()
reach.round(3)

# %% [markdown]
# ## The answer, in words
# One sentence per optimizer: the final test accuracy, GC - baseline, each arm at its own best
# learning rate, with its 95% interval (the sentences of `docs/study/README.md`). For synthetic,
# remember that both arms are near chance.

# %%
from gc_tutorial.grids.study_report import at_best_sentences

for dataset, rows in at_best.groupby("dataset"):
    print(f"{dataset}:", *at_best_sentences(rows), sep="\n- ")
