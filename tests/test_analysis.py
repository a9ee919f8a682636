"""Tables in, tables out: one comparison's tables."""

import math

import pandas as pd
import pytest

from gc_tutorial import analysis
from gc_tutorial.stats import SUMMARY_FIELDS


def test_a_comparisons_statistics_are_nan_when_a_seed_diverged():
    paired = pd.DataFrame(
        {f"{metric}_diff": [0.1, 0.2, 0.3] for metric in analysis.PAIRED_METRICS}
    ).assign(final_train_loss_diff=[0.1, float("nan"), 0.3])
    statistics = analysis.paired_statistics(paired).set_index("metric")
    assert statistics.loc["final_test_accuracy", "n"] == 3
    assert statistics.loc["final_test_accuracy", "mean"] == pytest.approx(0.2)
    assert statistics.loc["final_train_loss", "n"] == 3  # not left out: the row says NaN
    assert math.isnan(statistics.loc["final_train_loss", "mean"])
    assert list(statistics.columns) == ["confidence", *SUMMARY_FIELDS]
