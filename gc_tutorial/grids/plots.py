"""Plots of many runs: a batch grid, and the study (forest plot, learning rates, epochs to a
target)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from gc_tutorial.grids.tables import best_learning_rates, final_epochs
from gc_tutorial.plots import ARM_STYLE


def plot_grid(runs: pd.DataFrame) -> plt.Figure:
    """Final test accuracy per learning rate, one panel per optimizer: every run as a dot,
    the mean over runs as a line, baseline and GC side by side."""
    optimizers = list(dict.fromkeys(runs["optimizer"]))
    figure, axes = plt.subplots(
        1, len(optimizers), figsize=(4 * len(optimizers), 3.8), sharey=True, squeeze=False
    )
    for axis, optimizer in zip(axes[0], optimizers):
        for arm, arm_runs in runs[runs["optimizer"] == optimizer].groupby("arm", sort=False):
            style = ARM_STYLE.get(arm, {"label": arm})
            means = arm_runs.groupby("learning_rate")["final_test_accuracy"].mean()
            axis.plot(means.index, means.values, marker="o", **style)
            axis.scatter(
                arm_runs["learning_rate"],
                arm_runs["final_test_accuracy"],
                color=style.get("color"),
                alpha=0.4,
                s=15,
            )
        axis.set_xscale("log")
        axis.set_title(optimizer)
        axis.set_xlabel("learning rate")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("final test accuracy")
    axes[0][0].legend(title="line: mean over runs")
    figure.tight_layout()
    return figure


# --- The study -------------------------------------------------------------------------


def plot_forest(summary: pd.DataFrame, at_best: pd.DataFrame | None = None) -> plt.Figure:
    """Paired difference GC - baseline (final test accuracy) with its 95% CI, one line per
    configuration, its numbers written on the right; a dashed line at 0. Detected
    differences (the table's `detected`: the interval excludes 0, the sign-flip test
    agrees, no run diverged) are drawn solid (blue: GC higher, red: lower), the others
    hollow grey; a configuration with diverged runs says so in its label."""
    datasets = list(dict.fromkeys(summary["dataset"]))
    rows_per_panel = summary.groupby("dataset").size().max() + (0 if at_best is None else 5)
    figure, axes = plt.subplots(
        1, len(datasets), figsize=(8 * len(datasets), 0.42 * rows_per_panel + 1.5), squeeze=False
    )
    for axis, dataset in zip(axes[0], datasets):
        rows = summary[summary["dataset"] == dataset].reset_index(drop=True)
        labels = [f"{r.optimizer} lr={r.learning_rate:g}{_diverged(r)}" for r in rows.itertuples()]
        if at_best is not None:
            best = at_best[at_best["dataset"] == dataset]
            rows = pd.concat([rows, best], ignore_index=True)
            labels += [
                f"{r.optimizer}, each arm at its best lr{_diverged(r)}" for r in best.itertuples()
            ]
            axis.axhline(len(best) - 0.5, color="black", linewidth=0.8)
        positions = list(range(len(rows)))[::-1]
        for y, row in zip(positions, rows.itertuples()):
            _forest_line(axis, y, row)
        axis.axvline(0, color="black", linestyle="--", linewidth=1)
        axis.set_yticks(positions, labels)
        axis.set_xlabel("GC - baseline, final test accuracy (95% CI)")
        axis.set_title(f"{dataset}: paired difference over {int(rows['n'].max())} seeds")
        axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def _diverged(row) -> str:
    counts = [getattr(row, f"{arm}_diverged", 0) for arm in ("baseline", "gc")]
    return f" (diverged: {counts[0]} / {counts[1]})" if any(counts) else ""


def _forest_line(axis, y: float, row) -> None:
    excludes_zero = getattr(row, "detected", row.ci_low > 0 or row.ci_high < 0)
    color = ("tab:blue" if row.mean > 0 else "tab:red") if excludes_zero else "tab:gray"
    axis.errorbar(
        row.mean,
        y,
        xerr=[[row.mean - row.ci_low], [row.ci_high - row.mean]],
        fmt="o",
        color=color,
        mfc=color if excludes_zero else "white",
        capsize=3,
    )
    axis.annotate(
        f"{row.mean:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]",
        xy=(1.01, y),
        xycoords=("axes fraction", "data"),
        va="center",
        fontsize=8,
        color=color,
    )


def plot_best_learning_rates(study: pd.DataFrame) -> plt.Figure:
    """Per dataset (two rows each) and optimizer (columns): the final train loss, on which
    each arm's learning rate is chosen (star), and the final test accuracy, against the
    learning rate; mean over seeds with a min-max band, left out where a seed ended in NaN."""
    final = final_epochs(study)
    datasets = list(dict.fromkeys(final["dataset"]))
    optimizers = list(dict.fromkeys(final["optimizer"]))
    figure, axes = plt.subplots(
        2 * len(datasets),
        len(optimizers),
        figsize=(3.2 * len(optimizers), 3.0 * 2 * len(datasets)),
        squeeze=False,
    )
    metrics = [("train_loss", "final train loss"), ("test_accuracy", "final test accuracy")]
    for row_pair, dataset in enumerate(datasets):
        for column, optimizer in enumerate(optimizers):
            runs = final[(final["dataset"] == dataset) & (final["optimizer"] == optimizer)]
            for offset, (metric, title) in enumerate(metrics):
                axis = axes[2 * row_pair + offset][column]
                _plot_against_learning_rate(axis, runs, metric, star=metric == "train_loss")
                axis.set_ylabel(title)
                axis.set_title(f"{dataset} / {optimizer}", fontsize=10)
    axes[0][0].legend()
    figure.suptitle("Each arm's best learning rate (star) is chosen on the final TRAIN loss")
    figure.tight_layout()
    return figure


def _plot_against_learning_rate(axis, runs: pd.DataFrame, metric: str, star: bool) -> None:
    for arm, arm_runs in runs.groupby("arm", sort=False):
        by_rate = arm_runs.groupby("learning_rate")[metric]
        mean = by_rate.mean(skipna=False)  # a seed that ended in NaN leaves a gap
        style = ARM_STYLE.get(arm, {"label": arm})
        axis.plot(mean.index, mean.values, marker="o", **style)
        axis.fill_between(
            mean.index,
            by_rate.min(skipna=False).values,
            by_rate.max(skipna=False).values,
            alpha=0.2,
            color=style.get("color"),
        )
        if star:
            best = mean.replace([float("inf")], float("nan")).idxmin()
            axis.plot([best], [mean[best]], marker="*", markersize=14, color=style.get("color"))
    axis.set_xscale("log")
    if star:
        axis.set_yscale("log")
    axis.set_xlabel("learning rate")
    axis.grid(alpha=0.3)


def plot_epochs_to_target(study: pd.DataFrame, reach: pd.DataFrame) -> plt.Figure:
    """Mean test accuracy per epoch at each arm's best learning rate, with the target line;
    one row per dataset, one column per optimizer."""
    best = best_learning_rates(study).set_index(["dataset", "optimizer", "arm"])["learning_rate"]
    datasets = list(dict.fromkeys(reach["dataset"]))
    optimizers = list(dict.fromkeys(reach["optimizer"]))
    figure, axes = plt.subplots(
        len(datasets),
        len(optimizers),
        figsize=(3.2 * len(optimizers), 3.4 * len(datasets)),
        squeeze=False,
    )
    for row in reach.itertuples():
        axis = axes[datasets.index(row.dataset)][optimizers.index(row.optimizer)]
        for arm, style in ARM_STYLE.items():
            rate = best[(row.dataset, row.optimizer, arm)]
            runs = study[
                (study["dataset"] == row.dataset)
                & (study["optimizer"] == row.optimizer)
                & (study["arm"] == arm)
                & (study["learning_rate"] == rate)
            ]
            curve = runs.groupby("epoch")["test_accuracy"].mean()
            epochs = row.baseline_mean_epochs if arm == "baseline" else row.gc_mean_epochs
            reached = "not reached" if epochs != epochs else f"reached at {epochs:.1f}"
            label = f"{style['label']} lr={rate:g}, {reached}"
            axis.plot(curve.index, curve.values, marker=".", color=style["color"], label=label)
        axis.axhline(row.target_test_accuracy, color="black", linestyle="--", linewidth=1)
        axis.set_title(f"{row.dataset} / {row.optimizer}", fontsize=10)
        axis.set_xlabel("epoch")
        axis.set_ylabel("mean test accuracy")
        axis.legend(fontsize=7, loc="lower right")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure
