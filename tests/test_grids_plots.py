"""The plots: what they draw, checked on the study's hand-made table."""

import math
import subprocess
import sys

import matplotlib
from test_grids_study import hand_made_study

from gc_tutorial.grids.plots import plot_best_learning_rates, plot_epochs_to_target
from gc_tutorial.grids.tables import epochs_to_target

matplotlib.use("Agg")


def baseline_final_losses(study) -> dict[float, float]:
    loss_axis = plot_best_learning_rates(study).axes[0]
    line = next(line for line in loss_axis.get_lines() if line.get_label() == "baseline")
    return dict(zip(line.get_xdata(), line.get_ydata()))


def test_best_learning_rates_plot_shows_the_mean_of_each_runs_last_epoch():
    assert baseline_final_losses(hand_made_study()) == {0.01: 0.30, 0.1: 0.50}


def test_a_run_that_ends_in_nan_is_not_drawn_with_an_earlier_epochs_loss():
    study = hand_made_study()
    last_epoch_of_one_run = (
        (study["learning_rate"] == 0.1)
        & (study["arm"] == "baseline")
        & (study["seed"] == 0)
        & (study["epoch"] == 2)
    )
    study.loc[last_epoch_of_one_run, "train_loss"] = float("nan")
    losses = baseline_final_losses(study)
    assert losses[0.01] == 0.30
    assert math.isnan(losses[0.1])


def test_the_epochs_to_target_plot_marks_each_arms_best_learning_rate():
    study = hand_made_study()
    figure = plot_epochs_to_target(study, epochs_to_target(study, {"digits": 0.7}))
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels[:2] == ["baseline lr=0.01, reached at 2.0", "GC lr=0.1, reached at 1.0"]


def test_plots_draw_from_tables_without_the_study_or_the_experiment():
    above = ("gc_tutorial.grids.study", "gc_tutorial.comparison")
    code = f"import sys, gc_tutorial.plots; print([m for m in {above} if m in sys.modules])"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
