"""Plots of a comparison: learning curves, paired final accuracy, time per epoch; and images."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

ARM_STYLE = {
    "baseline": {"color": "tab:gray", "label": "baseline"},
    "gc": {"color": "tab:blue", "label": "GC"},
}
CURVES = [
    ("train_loss", "Train loss"),
    ("test_loss", "Test loss"),
    ("train_accuracy", "Train accuracy"),
    ("test_accuracy", "Test accuracy"),
]


def plot_learning_curves(history: pd.DataFrame) -> plt.Figure:
    """Train/test loss and accuracy per epoch: mean over seeds, with a min-max band per arm."""
    figure, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for axis, (column, title) in zip(axes.flat, CURVES):
        for arm, runs in history.groupby("arm", sort=False):
            by_epoch = runs.groupby("epoch")[column]
            mean, low, high = by_epoch.mean(), by_epoch.min(), by_epoch.max()
            style = ARM_STYLE.get(arm, {"label": arm})
            axis.plot(mean.index, mean.values, marker="o", **style)
            axis.fill_between(
                mean.index, low.values, high.values, alpha=0.2, color=style.get("color")
            )
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    seeds = history["seed"].nunique()
    axes.flat[0].legend(title=f"mean of {seeds} seed(s); band: min-max")
    figure.tight_layout()
    return figure


def plot_final_accuracy(history: pd.DataFrame) -> plt.Figure:
    """Final test accuracy of each seed, baseline and GC side by side, paired by a line."""
    last = history.sort_values("epoch").groupby(["seed", "arm"]).tail(1)
    table = last.pivot(index="seed", columns="arm", values="test_accuracy")
    arms = [arm for arm in ARM_STYLE if arm in table.columns]
    figure, axis = plt.subplots(figsize=(4.5, 4))
    for seed, row in table.iterrows():
        axis.plot(range(len(arms)), row[arms].values, color="tab:gray", alpha=0.6)
        axis.annotate(
            f"seed {seed}",
            (len(arms) - 1, row[arms[-1]]),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    for position, arm in enumerate(arms):
        axis.scatter([position] * len(table), table[arm], zorder=3, **ARM_STYLE[arm])
    axis.set_xticks(range(len(arms)), [ARM_STYLE[arm]["label"] for arm in arms])
    axis.set_xlim(-0.5, len(arms) - 0.2)
    axis.set_ylabel("final test accuracy")
    axis.set_title("Final test accuracy, paired by seed")
    axis.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    return figure


def plot_epoch_times(history: pd.DataFrame) -> plt.Figure:
    """Training time of each epoch per arm (mean over seeds); epoch 1 fills the data cache,
    and in the first seed Keras also traces the training step."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for arm, runs in history.groupby("arm", sort=False):
        times = runs.groupby("epoch")["train_time_s"].mean()
        axis.plot(times.index, times.values, marker="o", **ARM_STYLE.get(arm, {"label": arm}))
    axis.set_xlabel("epoch (1 fills the data cache; in the first seed it also traces)")
    axis.set_ylabel("training time per epoch (s)")
    axis.set_ylim(bottom=0)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_title("Time per epoch")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def plot_images(images, titles: list[str], columns: int = 4, size: float = 2.2) -> plt.Figure:
    """A grid of images (float in [0, 1], channels last), each with its title."""
    rows = -(-len(titles) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, title in zip(axes.flat, images, titles):
        axis.imshow(image)
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure
