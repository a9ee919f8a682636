"""The plots: what they draw, checked on the study's hand-made table."""

import math

import matplotlib
from test_study import hand_made_study

from gc_tutorial.plots import plot_best_learning_rates

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
