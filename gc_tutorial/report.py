"""Report text: a comparison's printout, the paired test in words, notes on the data."""

from __future__ import annotations

import numpy as np

from gc_tutorial.stats import paired_summary

REPORT_METRICS = [
    ("final_test_accuracy", "Test accuracy (final):"),
    ("best_test_accuracy", "Test accuracy (best):"),
    ("final_test_loss", "Test loss (final):"),
    ("final_train_loss", "Train loss (final):"),
    ("final_train_accuracy", "Train accuracy:"),
]


def format_report(result) -> str:
    """Mean +- std over seeds per arm, then the paired GC - baseline test with its CI.

    `result` is a `ComparisonResult` (its `parameters`, `dataset`, `summary`, `paired`).
    """
    p = result.parameters
    lines = [
        f"Comparing performance: {result.dataset.get('name')} ({result.dataset.get('kind')}), "
        f"{p['optimizer']} lr={p['learning_rate']:g}, {p['epochs']} epoch(s), "
        f"seeds {p['seeds']}, image {p['image_size']}px, batch {p['batch_size']}",
    ]
    lines += data_notes([result.dataset])
    for row in result.summary.itertuples():
        label = (
            "Using Gradient Centralization"
            if row.arm == "gc"
            else "Not using Gradient Centralization"
        )
        lines += [
            label,
            *(f"  {title:<22} {_row_mean_std(row, metric)}" for metric, title in REPORT_METRICS),
            f"  First epoch (data cache; tracing in seed 1): {row.first_epoch_time_s_mean:.2f} s; "
            f"steady epoch: {_row_mean_std(row, 'steady_epoch_time_s', 2)} s "
            f"({row.images_per_second_mean:.1f} images/s)",
        ]
        if row.diverged:
            lines.append(f"  Diverged in {row.diverged} of {row.seeds} seed(s).")
    diff = result.paired["final_test_accuracy_diff"]
    lines.append(
        "Paired difference GC - baseline, final test accuracy, per seed: "
        + ", ".join(f"seed {s}: {d:+.4f}" for s, d in zip(result.paired["seed"], diff))
    )
    lines.append(describe_paired(diff.to_numpy(dtype=float)))
    return "\n".join(lines)


def data_notes(datasets: list[dict]) -> list[str]:
    """The NOTE lines for results made on these datasets (`DatasetInfo` records): one for
    synthetic data and one for digits, neither of which is horses_or_humans."""
    notes = []
    if any(dataset.get("synthetic") for dataset in datasets):
        notes.append(
            "NOTE: SYNTHETIC data, generated offline: these are not horses_or_humans results."
        )
    if any(dataset.get("kind") == "digits" for dataset in datasets):
        notes.append("NOTE: scikit-learn digits (real, offline): not horses_or_humans results.")
    return notes


def describe_paired(differences: np.ndarray, what: str = "GC - baseline") -> str:
    """The paired summary in words, or why there is none."""
    if len(differences) < 2:
        return "One seed: no confidence interval (run 2 or more seeds to get one)."
    if not np.isfinite(differences).all():
        return "A run diverged (non-finite metric): no confidence interval."
    return paired_summary(differences).describe(what)


def _row_mean_std(row, metric: str, digits: int = 4) -> str:
    return mean_std(getattr(row, f"{metric}_mean"), getattr(row, f"{metric}_std"), digits)


def mean_std(mean: float, std: float, digits: int = 4) -> str:
    """'mean +- std', with 'n/a' for the std of a single seed."""
    std_text = "n/a" if not np.isfinite(std) else f"{std:.{digits}f}"
    return f"{mean:.{digits}f} +- {std_text}"
