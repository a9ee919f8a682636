"""Tables of many runs: a batch grid's and a study's summaries, from their tidy tables.

A study's table has a comparison's per-epoch columns plus `CELL_KEYS`; it gives one row per
cell (`summarize_study`), each arm at its best learning rate (`compare_at_best_learning_rates`)
and the epochs to a target (`epochs_to_target`). A batch grid's runs give one row per
optimizer x learning rate (`summarize_grid`). Every paired summary is `stats.paired_fields` of
GC - baseline per seed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gc_tutorial.analysis import ARMS
from gc_tutorial.stats import paired_fields

CELL_KEYS = ["dataset", "optimizer", "learning_rate"]  # one study cell
STUDY_CONFIDENCE = 0.95  # of every interval the study reports
TARGET_ACCURACY = {"digits": 0.9, "synthetic": 0.6}  # test accuracy for `epochs_to_target`
DEFAULT_TARGET_ACCURACY = 0.9

# --- A batch grid: one comparison per optimizer x learning rate x seed --------------------


def summarize_grid(runs: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer x learning rate: each arm's mean and the paired test over seeds (a seed
    missing an arm is left out of the test; `n` counts the seeds kept)."""
    if runs.empty:
        return runs
    rows = []
    for (optimizer, rate), cell in runs.groupby(["optimizer", "learning_rate"]):
        wide = cell.pivot(index="seed", columns="arm", values="final_test_accuracy")
        fields, _ = paired_fields((wide["gc"] - wide["baseline"]).to_numpy())
        rows.append(
            {
                "optimizer": optimizer,
                "learning_rate": rate,
                "seeds": len(wide),
                "baseline_mean": wide["baseline"].mean(),
                "gc_mean": wide["gc"].mean(),
                **fields,
            }
        )
    return pd.DataFrame(rows)


# --- A study: comparisons per dataset x optimizer x learning rate, many seeds --------------


def final_epochs(study: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset x optimizer x learning_rate x seed x arm: its last epoch's row,
    NaN values included (a run whose last loss is NaN ended NaN)."""
    keys = [*CELL_KEYS, "seed", "arm"]
    ordered = study.sort_values([*keys, "epoch"])
    return ordered.groupby(keys).tail(1).reset_index(drop=True)


def paired_table(study: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """Final `metric` per seed for both arms, and their difference gc - baseline."""
    final = final_epochs(study)
    wide = final.pivot_table(index=[*CELL_KEYS, "seed"], columns="arm", values=metric)
    wide = wide.reset_index()
    wide["difference"] = wide["gc"] - wide["baseline"]
    return wide


def summarize_study(study: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """summary.csv: per dataset x optimizer x learning_rate, `paired_summary` of the final
    `metric` differences (GC - baseline), with each arm's mean, how many of its runs
    diverged (stopped early: their final value is not comparable) and whether a
    difference is detected (`PairedSummary.detected`, and no run diverged)."""
    diverged = diverged_runs(study)
    rows = []
    for keys, cell in paired_table(study, metric).groupby(CELL_KEYS):
        fields, detected = paired_fields(cell["difference"].to_numpy(), STUDY_CONFIDENCE)
        counts = {f"{arm}_diverged": int(diverged.get((*keys, arm), 0)) for arm in ARMS}
        rows.append(
            {
                **dict(zip(CELL_KEYS, keys, strict=True)),
                "metric": f"final_{metric}",
                "baseline_mean": cell["baseline"].mean(),
                "gc_mean": cell["gc"].mean(),
                **fields,
                **counts,
                "detected": detected and not any(counts.values()),
            }
        )
    return pd.DataFrame(rows)


def diverged_runs(study: pd.DataFrame) -> pd.Series:
    """How many runs diverged, per dataset x optimizer x learning_rate x arm."""
    final = final_epochs(study)
    return final.groupby([*CELL_KEYS, "arm"])["diverged"].apply(
        lambda runs: runs.astype(bool).sum()
    )


def best_learning_rates(study: pd.DataFrame) -> pd.DataFrame:
    """Each arm's best learning rate per dataset x optimizer, chosen on the TRAINING loss.

    The criterion is the mean over seeds of the final training loss (a diverged run
    counts as infinite loss); the test set plays no part in the choice.
    """
    final = final_epochs(study)
    final["train_loss"] = final["train_loss"].where(np.isfinite(final["train_loss"]), np.inf)
    final.loc[final["diverged"].astype(bool), "train_loss"] = np.inf
    means = final.groupby(["dataset", "optimizer", "arm", "learning_rate"], as_index=False)[
        "train_loss"
    ].mean()
    best = means.loc[means.groupby(["dataset", "optimizer", "arm"])["train_loss"].idxmin()]
    return best.rename(columns={"train_loss": "mean_final_train_loss"}).reset_index(drop=True)


def compare_at_best_learning_rates(study: pd.DataFrame) -> pd.DataFrame:
    """GC at its own best learning rate vs the baseline at its own, paired by seed."""
    best = best_learning_rates(study).set_index(["dataset", "optimizer", "arm"])["learning_rate"]
    final = final_epochs(study)
    diverged = diverged_runs(study)
    rows = []
    for (dataset, optimizer), runs in final.groupby(["dataset", "optimizer"]):
        arms = {
            arm: runs[
                (runs["arm"] == arm) & (runs["learning_rate"] == best[(dataset, optimizer, arm)])
            ].set_index("seed")["test_accuracy"]
            for arm in ARMS
        }
        difference = (arms["gc"] - arms["baseline"]).dropna()  # `n` says if a seed is left out
        fields, detected = paired_fields(difference.to_numpy(), STUDY_CONFIDENCE)
        paired = difference.index
        counts = {
            f"{arm}_diverged": int(diverged.get((dataset, optimizer, rate, arm), 0))
            for arm, rate in ((arm, best[(dataset, optimizer, arm)]) for arm in ARMS)
        }
        rows.append(
            {
                "dataset": dataset,
                "optimizer": optimizer,
                "baseline_learning_rate": best[(dataset, optimizer, "baseline")],
                "gc_learning_rate": best[(dataset, optimizer, "gc")],
                "baseline_mean": arms["baseline"][paired].mean(),
                "gc_mean": arms["gc"][paired].mean(),
                **fields,
                **counts,
                "detected": detected and not any(counts.values()),
            }
        )
    return pd.DataFrame(rows)


def epochs_to_target(study: pd.DataFrame, targets: dict | None = None) -> pd.DataFrame:
    """Per run at each arm's best learning rate: the first epoch whose test accuracy
    reaches the dataset's target (NaN if never), and the paired summary per optimizer
    over the seeds where both arms reached it (every field empty, `n` too, when fewer
    than 2 did)."""
    targets = TARGET_ACCURACY if targets is None else targets
    best = best_learning_rates(study)
    chosen = study.merge(best[["dataset", "optimizer", "arm", "learning_rate"]])
    rows = []
    for (dataset, optimizer), runs in chosen.groupby(["dataset", "optimizer"]):
        target = targets.get(dataset, DEFAULT_TARGET_ACCURACY)
        first = {
            arm: runs[runs["arm"] == arm]
            .groupby("seed")
            .apply(lambda run, t=target: _first_epoch_reaching(run, t), include_groups=False)
            for arm in ARMS
        }
        both = (first["gc"] - first["baseline"]).dropna()
        fields, _ = paired_fields(both.to_numpy(), STUDY_CONFIDENCE)
        if len(both) < 2:
            fields["n"] = math.nan
        rows.append(
            {
                "dataset": dataset,
                "optimizer": optimizer,
                "target_test_accuracy": target,
                "baseline_reached": int(first["baseline"].notna().sum()),
                "gc_reached": int(first["gc"].notna().sum()),
                "seeds": len(first["baseline"]),
                "baseline_mean_epochs": first["baseline"].mean(),
                "gc_mean_epochs": first["gc"].mean(),
                **fields,
            }
        )
    return pd.DataFrame(rows)


def _first_epoch_reaching(run: pd.DataFrame, target: float) -> float:
    reached = run.loc[run["test_accuracy"] >= target, "epoch"]
    return float(reached.min()) if len(reached) else math.nan
