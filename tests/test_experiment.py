"""The fair comparison: fairness, determinism, results files and plots, NaN, bad input.

Kept fast: synthetic data, tiny images, few examples, one or two epochs.
"""

import json

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from gc_tutorial import experiment
from gc_tutorial.experiment import load_comparison, run_comparison

TINY = {
    "seeds": [0],
    "epochs": 2,
    "batch_size": 16,
    "image_size": 16,
    "max_examples": 32,
    "verbose": 0,
}
METRICS = ["train_loss", "train_accuracy", "test_loss", "test_accuracy"]


def compare(**overrides):
    return run_comparison("synthetic", **{**TINY, **overrides})


def arm(history, name):
    return history[history["arm"] == name].reset_index(drop=True)


def test_with_zero_learning_rate_both_arms_see_exactly_the_same_training():
    history = compare(learning_rate=0.0).history
    baseline, gc = arm(history, "baseline"), arm(history, "gc")
    assert baseline["initial_weights"].equals(gc["initial_weights"])
    pd.testing.assert_frame_equal(baseline[METRICS], gc[METRICS], check_exact=True)


def test_gc_arm_differs_from_baseline_with_a_learning_rate():
    history = compare(learning_rate=1e-3, optimizer="sgd").history
    baseline, gc = arm(history, "baseline"), arm(history, "gc")
    assert baseline["initial_weights"].equals(gc["initial_weights"])
    assert not np.allclose(baseline["train_loss"], gc["train_loss"], rtol=0, atol=1e-7)


def test_same_seed_gives_the_same_table():
    first, second = (compare(seeds=[3], learning_rate=1e-3).history for _ in range(2))
    pd.testing.assert_frame_equal(first[METRICS], second[METRICS], check_exact=True)
    different = compare(seeds=[4], learning_rate=1e-3).history
    assert not first["initial_weights"].equals(different["initial_weights"])


def test_two_seed_comparison_writes_readable_tables_and_plots(tmp_path):
    result = compare(seeds=[0, 1], epochs=2, output_dir=tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    assert len(history) == 2 * 2 * 2  # arms x seeds x epochs
    assert set(history["arm"]) == {"baseline", "gc"} and set(history["seed"]) == {0, 1}
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["arm"]) == ["baseline", "gc"] and list(summary["seeds"]) == [2, 2]
    assert summary["final_test_accuracy_std"].notna().all()
    assert len(pd.read_csv(tmp_path / "paired.csv")) == 2
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["parameters"]["seeds"] == [0, 1]
    assert payload["dataset"]["synthetic"] is True
    assert {"keras", "tensorflow", "python", "platform", "cpu_count"} <= set(payload["environment"])
    for name in ("learning_curves.png", "final_test_accuracy.png", "epoch_times.png"):
        image = matplotlib.image.imread(tmp_path / name)
        assert image.shape[0] > 100 and image.shape[1] > 100
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    loaded = load_comparison(tmp_path)
    pd.testing.assert_frame_equal(loaded.history[METRICS], result.history[METRICS])
    report = result.report()
    assert "SYNTHETIC" in report and "Using Gradient Centralization" in report
    assert "Paired difference GC - baseline" in report


def test_nan_loss_stops_the_arm_and_is_recorded():
    result = compare(optimizer="sgd", learning_rate=1e30, epochs=3)
    assert result.history["diverged"].all()
    assert result.history.groupby("arm")["epoch"].max().max() < 3  # stopped early
    assert list(result.summary["diverged"]) == [1, 1]
    assert "Diverged" in result.report()


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        ({"seeds": []}, ValueError, "seeds"),
        ({"seeds": [0, 0]}, ValueError, "repeats"),
        ({"seeds": ["a"]}, ValueError, "seed"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": 1.5}, ValueError, "epochs"),
        ({"learning_rate": -1e-3}, ValueError, "learning_rate"),
        ({"optimizer": "adadelta"}, ValueError, "known optimizers"),
        ({"augment": "yes"}, ValueError, "augment"),
    ],
)
def test_bad_input_fails_before_training(monkeypatch, overrides, error, message):
    monkeypatch.setattr(experiment, "train_arm", pytest.fail)
    with pytest.raises(error, match=message):
        compare(**overrides)


def test_output_dir_that_is_a_file_fails_before_training(monkeypatch, tmp_path):
    monkeypatch.setattr(experiment, "train_arm", pytest.fail)
    a_file = tmp_path / "results"
    a_file.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="results"):
        compare(output_dir=a_file)


def test_an_interrupted_comparison_keeps_the_arms_it_finished(monkeypatch, tmp_path):
    finished = []
    real_train_arm = experiment.train_arm

    def train_then_crash(arm, seed, parameters, verbose):
        if finished:
            raise KeyboardInterrupt
        finished.append(arm)
        return real_train_arm(arm, seed, parameters, verbose)

    monkeypatch.setattr(experiment, "train_arm", train_then_crash)
    with pytest.raises(KeyboardInterrupt):
        compare(output_dir=tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history["arm"].unique()) == ["baseline"] and len(history) == TINY["epochs"]
