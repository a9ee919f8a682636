"""A comparison's tables, from its per-epoch table (`HISTORY_COLUMNS`): one row per arm
(`summarize`), per seed (`paired_differences`) and per metric (`paired_statistics`). Pure
functions on pandas tables; the grids' and the study's tables build on them.
"""

from __future__ import annotations

import pandas as pd

from gc_tutorial.stats import paired_fields

ARMS = ("baseline", "gc")
HISTORY_COLUMNS = [
    "seed",
    "arm",
    "epoch",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "train_time_s",
    "eval_time_s",
    "diverged",
    "initial_weights",
]
PAIRED_METRICS = (
    "final_test_accuracy",
    "best_test_accuracy",
    "final_test_loss",
    "final_train_loss",
)


def per_run_table(history: pd.DataFrame) -> pd.DataFrame:
    """One row per arm x seed, from the per-epoch table; final values are the last epoch's,
    NaN included (a diverged run's final loss is NaN, not an earlier epoch's)."""
    ordered = history.sort_values(["arm", "seed", "epoch"])
    runs = ordered.groupby(["arm", "seed"], sort=False)
    last = runs.tail(1).set_index(["arm", "seed"])  # the last epoch's row, NaN and all
    per_run = pd.DataFrame(
        {
            "final_test_accuracy": last["test_accuracy"],
            "best_test_accuracy": runs["test_accuracy"].max(),
            "final_train_accuracy": last["train_accuracy"],
            "final_train_loss": last["train_loss"],
            "final_test_loss": last["test_loss"],
            "first_epoch_time_s": runs["train_time_s"].first(),
            # Epoch 1 fills the data cache (and traces, in the first seed): left out if possible.
            "steady_epoch_time_s": runs["train_time_s"].apply(
                lambda times: times.iloc[1:].mean() if len(times) > 1 else times.iloc[0]
            ),
            "diverged": runs["diverged"].first().astype(bool),
        }
    ).reset_index()
    order = {arm: index for index, arm in enumerate(ARMS)}
    return per_run.sort_values(
        ["arm", "seed"], key=lambda c: c.map(order) if c.name == "arm" else c
    )


def summarize(history: pd.DataFrame, num_train: int) -> pd.DataFrame:
    """One row per arm: final and best test accuracy, losses, times; mean and std over seeds."""
    per_run = per_run_table(history)
    per_run["images_per_second"] = num_train / per_run["steady_epoch_time_s"]
    metrics = per_run.columns.drop(["arm", "seed", "diverged"])
    grouped = per_run.groupby("arm", sort=False)
    # NaN is kept: a diverged seed's NaN makes the arm's mean NaN, not a mean of the others.
    statistics = {"mean": lambda v: v.mean(skipna=False), "std": lambda v: v.std(skipna=False)}
    summary = pd.DataFrame(
        {
            f"{metric}_{stat}": grouped[metric].agg(function)
            for metric in metrics
            for stat, function in statistics.items()
        }
    )
    summary.insert(0, "seeds", grouped.size())
    summary.insert(1, "diverged", grouped["diverged"].sum().astype(int))
    return summary.reset_index()


def paired_differences(history: pd.DataFrame) -> pd.DataFrame:
    """One row per seed: GC minus baseline for the final metrics, and the epoch-time ratio.

    The time ratio compares the steady epochs (2 onwards) that both arms ran.
    """
    per_run = per_run_table(history).set_index(["seed", "arm"])
    gc, baseline = per_run.xs("gc", level="arm"), per_run.xs("baseline", level="arm")
    paired = pd.DataFrame(
        {f"{metric}_diff": gc[metric] - baseline[metric] for metric in PAIRED_METRICS}
    )
    paired["steady_epoch_time_ratio"] = _common_epoch_time_ratio(history)
    paired["any_diverged"] = gc["diverged"] | baseline["diverged"]
    return paired.reset_index()


def _common_epoch_time_ratio(history: pd.DataFrame) -> pd.Series:
    """Per seed: mean GC epoch time / mean baseline epoch time over the epochs both ran,
    leaving out epoch 1 (cache filling, tracing) when there are later ones."""
    ratios = {}
    for seed, runs in history.groupby("seed"):
        times = runs.pivot_table(index="epoch", columns="arm", values="train_time_s").dropna()
        if len(times) > 1:
            times = times.iloc[1:]
        ratios[seed] = times["gc"].mean() / times["baseline"].mean()
    return pd.Series(ratios, name="steady_epoch_time_ratio")


def paired_statistics(paired: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """`paired_summary` of each per-seed difference column; NaN fields with a single seed,
    or when a seed's difference is not finite (a diverged run is not left out)."""
    rows = []
    for metric in PAIRED_METRICS:
        differences = paired[f"{metric}_diff"].to_numpy(dtype=float)
        fields, _ = paired_fields(differences, confidence, drop_nonfinite=False)
        rows.append({"metric": metric, "confidence": confidence, **fields})
    return pd.DataFrame(rows)
