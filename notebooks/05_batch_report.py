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
# # 5. Batch report: many comparisons, one picture
#
# [Open in Colab](https://colab.research.google.com/github/gc-tutorial/gc-tutorial/blob/main/notebooks/05_batch_report.ipynb)
#
# Part 5. One comparison is one optimizer at one learning rate. Does GC help across
# optimizers and learning rates? We run the comparison notebook (part 4) with papermill over a
# grid of optimizers x learning rates x seeds, each run in its own folder under `runs_dir`,
# then read whatever runs exist and plot them together.
#
# From a terminal, the same grid runs with:
#
# ```bash
# python -m gc_tutorial.batch --notebook notebooks/04_comparison.ipynb --runs-dir runs/grid \
#     --optimizers sgd rmsprop adam --learning-rates 1e-3 1e-4 --seeds 0 1 2
# ```
#
# A run is identified by all its parameters, the code of the comparison notebook and quick mode,
# and is complete once its `complete.json` marker, written last, exists: a rerun skips complete
# runs with the same identity, reruns interrupted ones, and stops before training if a run was
# made with other settings (`--replace` moves those aside and reruns them). A failing run writes
# `error.txt` in its folder without stopping the others, and two batches cannot share a runs
# folder. Quick mode keeps its runs apart, in a new temporary folder.

# %%
# !python -c "import google.colab" 2>/dev/null && pip install -q "gc-tutorial @ git+https://github.com/gc-tutorial/gc-tutorial"

# %% [markdown]
# ## Parameters
# `launch_grid=True` runs the grid from this notebook before the report (quick mode does, so
# that the report has runs to show); otherwise the report reads the runs already in `runs_dir`.
# The dataset parameters (`data_dir` included: horses_or_humans offline needs a prepared copy)
# are passed to every run.

# %% tags=["parameters"]
runs_dir: str = "runs/grid"  # one folder per grid run
launch_grid: bool = False  # run the grid before the report
grid_optimizers: list = ["sgd", "rmsprop", "adam"]  # optimizers of the grid
grid_learning_rates: list = [0.001, 0.0001]  # learning rates of the grid
seeds: list = [0, 1, 2]  # one paired baseline/GC comparison per seed
dataset: str = "horses_or_humans"  # tfds name, image folder, "digits" or "synthetic"
data_dir: str = None  # tensorflow-datasets data_dir holding a prepared copy
image_size: int = 300  # images are resized to image_size x image_size
batch_size: int = 128  # examples per batch
epochs: int = 10  # epochs per arm
max_examples: int = None  # cap on the examples of each split (None: all)
augment: bool = True  # flip/rotate/zoom the training images (not for digits)

# %%
from gc_tutorial.grids.parameters import check_grid_parameters

parameters = check_grid_parameters(globals())

# %% [markdown]
# ## Run the grid (when asked)
# Each run executes the comparison notebook that ships with the package (the same file as
# [notebook 4](04_comparison.ipynb)), so this notebook needs nothing beside it.

# %%
from gc_tutorial.grids.batch import collect_runs, comparison_notebook, run_grid
from gc_tutorial.grids.tables import summarize_grid
from gc_tutorial.results import data_notes

if launch_grid:
    statuses = run_grid(
        comparison_notebook(),
        runs_dir,
        optimizers=grid_optimizers,
        learning_rates=grid_learning_rates,
        seeds=seeds,
        parameters={
            "dataset": dataset,
            "data_dir": data_dir,
            "image_size": image_size,
            "batch_size": batch_size,
            "epochs": epochs,
            "max_examples": max_examples,
            "augment": augment,
        },
    )
    print(statuses.to_string(index=False))

# %% [markdown]
# ## Collect the finished runs
# One row per run and arm, with its final test metrics.

# %%
runs = collect_runs(runs_dir)
if runs.empty:
    print(f"No finished run in {runs_dir!r} yet: launch a grid (see above).")
else:
    for note in data_notes(runs[["kind", "synthetic"]].to_dict(orient="records")):
        print(note)
    print(f"{runs['run'].nunique()} finished run(s) in {runs_dir!r}")
runs

# %% [markdown]
# ## GC - baseline for each optimizer and learning rate
# Each arm's mean final test accuracy over seeds, then the paired difference GC - baseline:
# mean, 95% interval (`ci_low`, `ci_high`), sign-flip p-value and GC's wins, ties and losses.
# They read as in [notebook 4](04_comparison.ipynb) (*how to read the statistics*); the default
# grid compares 6 settings at once, so a single detection among them is weak evidence.

# %%
summarize_grid(runs)

# %% [markdown]
# ## GC against baseline across the grid
# One panel per optimizer; dots are single runs, lines the mean over seeds.

# %%
import matplotlib.pyplot as plt

from gc_tutorial.grids.plots import plot_grid

if not runs.empty:
    plot_grid(runs)
    plt.show()
