"""Tables of many runs: the committed study recomputes byte for byte; one paired summariser."""

import math
from pathlib import Path

import pandas as pd
import pytest

from gc_tutorial.grids import tables
from gc_tutorial.stats import SUMMARY_FIELDS, paired_fields

COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "study"


@pytest.mark.parametrize(
    "file_name, table",
    [
        ("summary.csv", tables.summarize_study),
        ("best_learning_rates.csv", tables.compare_at_best_learning_rates),
        ("epochs_to_target.csv", tables.epochs_to_target),
    ],
)
def test_the_committed_study_tables_recompute_byte_for_byte(file_name, table):
    study = pd.read_csv(COMMITTED / "study.csv")
    assert table(study).to_csv(index=False) == (COMMITTED / file_name).read_text()


def test_every_paired_summary_is_paired_fields_of_gc_minus_baseline():
    study = pd.read_csv(COMMITTED / "study.csv")
    row = tables.summarize_study(study).iloc[0]
    cell = tables.paired_table(study).iloc[: int(row["n"])]
    fields, detected = paired_fields(cell["difference"].to_numpy(), tables.STUDY_CONFIDENCE)
    assert {field: row[field] for field in SUMMARY_FIELDS} == fields
    assert bool(row["detected"]) == detected


def grid_runs(accuracies) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"optimizer": "sgd", "learning_rate": 0.1, "seed": seed, "arm": arm, **values}
            for seed, pair in enumerate(accuracies)
            for arm, accuracy in zip(("baseline", "gc"), pair)
            if accuracy is not None
            for values in [{"final_test_accuracy": accuracy}]
        ]
    )


def test_summarize_grid_leaves_out_a_seed_missing_an_arm_and_counts_the_rest():
    row = tables.summarize_grid(grid_runs([(0.8, 0.9), (0.7, 0.75), (0.6, None)])).iloc[0]
    assert (row["seeds"], row["n"]) == (3, 2)
    assert row["mean"] == pytest.approx(0.075)
    one = tables.summarize_grid(grid_runs([(0.8, 0.9), (0.7, None)])).iloc[0]
    assert one["n"] == 1 and math.isnan(one["mean"]) and math.isnan(one["p_value"])
