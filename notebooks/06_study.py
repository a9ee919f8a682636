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
# Part 6. Parts 4 and 5 compare a few seeds. Here we read the committed study in `docs/study/`:
# four optimizers (SGD with momentum 0.9, RMSprop, Adam, AdamW), three learning rates each,
# ten seeds, both arms, on scikit-learn's real handwritten **digits** and on the **synthetic**
# discs-and-rings set. Neither is horses_or_humans (it cannot be downloaded offline), so these
# numbers say nothing about horses and humans: they are what GC does for this CNN on these data.
#
# The study was made by one command per dataset (it resumes if interrupted):
#
# ```bash
# python -m gc_tutorial.study --dataset digits
# python -m gc_tutorial.study --dataset synthetic
# ```
#
# This notebook trains nothing: it recomputes every table from `study.csv` and draws the plots.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install this tutorial's package; elsewhere, nothing
    package = "git+https://github.com/gc-tutorial/gc-tutorial"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)

# %% [markdown]
# ## Parameters
# `study_dir` is the folder `python -m gc_tutorial.study` wrote (the committed one by default).

# %% tags=["parameters"]
study_dir: str = "../docs/study"  # study.csv and study.json written by gc_tutorial.study

# %%
from gc_tutorial.parameters import resolve_parameters

settings = resolve_parameters(study_dir=study_dir)

# %% [markdown]
# ## What was run, where, and how long it took
# `study.json` records each dataset's settings, grid, seeds, machine and wall time.

# %%
import json
from pathlib import Path

import pandas as pd

folder = Path(settings.study_dir)
record = json.loads((folder / "study.json").read_text())
pd.DataFrame(
    {
        dataset: {
            **run["settings"],
            "seeds": len(run["seeds"]),
            "cells": sum(len(rates) for rates in run["grid"].values()),
            "target accuracy": run["target_accuracy"],
            "wall time (min)": run["wall_time_min"],
            "processor": run["environment"]["processor"],
            "cores": run["environment"]["cpu_count"],
        }
        for dataset, run in record.items()
    }
)

# %% [markdown]
# ## The tidy record
# One row per dataset x optimizer x learning rate x seed x arm x epoch. Everything below is
# computed from this table alone.

# %%
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
from gc_tutorial.study import compare_at_best_learning_rates, epochs_to_target, summarize_study

summary = summarize_study(study)
summary.round(4)

# %% [markdown]
# ## How to read a forest plot
# Each line is one configuration: the dot is the mean paired difference GC - baseline, the bar
# its 95% confidence interval, the dashed line zero.
#
# - A bar that **crosses zero** (hollow grey dot) means the ten seeds cannot tell GC from the
#   baseline there: "no detectable difference". It does not prove the arms are equal; an effect
#   smaller than the bar's half-width could still exist.
# - A bar entirely **right of zero** (blue) means GC ended with higher test accuracy in that
#   configuration; entirely **left** (red), lower.
# - With twelve configurations per dataset, about one in twenty intervals misses the truth by
#   chance alone: a single blue or red bar among many grey ones is weak evidence.
#
# The last lines compare each arm at **its own** best learning rate (next section).

# %%
import matplotlib.pyplot as plt

from gc_tutorial.plots import plot_best_learning_rates, plot_epochs_to_target, plot_forest

at_best = compare_at_best_learning_rates(study)
plot_forest(summary, at_best)
plt.show()

# %% [markdown]
# ## Each arm at its own best learning rate
# GC changes the gradient, so it may simply move the best learning rate: comparing both arms
# at one learning rate can favour either. A fair claim lets each arm pick its own. The pick
# uses the **training** loss (mean over seeds of the final training loss; a diverged run counts
# as infinitely bad), never the test set, so the test accuracy below is not tuned on.
#
# Top row: the final training loss against the learning rate (the star marks each arm's pick).
# Bottom row: the final test accuracy. Bands span the lowest and highest seed.

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
# One sentence per optimizer at each arm's best learning rate, with its interval:

# %%
from gc_tutorial.stats import SUMMARY_FIELDS, PairedSummary

for row in at_best.to_dict(orient="records"):
    summary = PairedSummary(**{field: row[field] for field in SUMMARY_FIELDS}, confidence=0.95)
    print(
        f"{row['dataset']} / {row['optimizer']} (baseline at lr {row['baseline_learning_rate']:g}, "
        f"GC at lr {row['gc_learning_rate']:g}):\n  "
        + summary.describe("GC - baseline, final test accuracy")
    )
