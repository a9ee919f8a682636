"""Paired statistics: checked against scipy on random data and on a case worked by hand."""

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from gc_tutorial.stats import (
    MONTE_CARLO_DRAWS,
    MONTE_CARLO_SEED,
    SUMMARY_FIELDS,
    paired_fields,
    paired_summary,
    sign_flip_p_value,
)


@pytest.mark.parametrize("n", [2, 3, 7, 12])
@pytest.mark.parametrize("seed", [0, 1])
def test_interval_and_p_value_agree_with_scipy(n, seed):
    differences = np.random.default_rng(seed).normal(0.02, 0.05, n)
    summary = paired_summary(differences, confidence=0.9)
    interval = scipy_stats.ttest_1samp(differences, 0.0).confidence_interval(0.9)
    assert summary.ci_low == pytest.approx(interval.low, rel=1e-9)
    assert summary.ci_high == pytest.approx(interval.high, rel=1e-9)
    exact = scipy_stats.permutation_test(
        (differences,),
        np.mean,
        permutation_type="samples",
        alternative="two-sided",
        n_resamples=math.inf,
    )
    assert summary.p_value == pytest.approx(exact.pvalue, rel=1e-9)
    assert summary.std == pytest.approx(np.std(differences, ddof=1))
    assert summary.effect_size == pytest.approx(differences.mean() / differences.std(ddof=1))


def test_hand_made_case():
    # GC 0.9, 0.8, 0.85, 0.9, 0.7 vs baseline 0.8, 0.8, 0.8, 0.75, 0.75:
    gc = np.array([0.9, 0.8, 0.85, 0.9, 0.7])
    baseline = np.array([0.8, 0.8, 0.8, 0.75, 0.75])
    summary = paired_summary(gc - baseline)
    # differences +0.1, 0, +0.05, +0.15, -0.05: mean 0.05, std 0.0790569 (ddof=1),
    # t(0.975, 4) = 2.7764451, half width = 2.7764451 * 0.0790569 / sqrt(5) = 0.0981625.
    assert summary.n == 5
    assert summary.mean == pytest.approx(0.05)
    assert summary.std == pytest.approx(0.0790569, abs=1e-7)
    assert summary.ci_low == pytest.approx(0.05 - 0.0981625, abs=1e-6)
    assert summary.ci_high == pytest.approx(0.05 + 0.0981625, abs=1e-6)
    assert (summary.wins, summary.ties, summary.losses) == (3, 1, 1)
    # 32 sign patterns; |mean| >= 0.05 when the signed sum reaches 0.25 in size. With a
    # zero the patterns come in pairs: 16 patterns of (0.1, 0.05, 0.15, 0.05) whose signed
    # sum has |s| >= 0.25: s in {+-0.35, +-0.25} -> 2 + 4 = 6 of 16, so p = 12/32.
    assert summary.p_value == pytest.approx(12 / 32)
    assert "no detectable difference" in summary.describe()


def test_clear_effect_excludes_zero_and_says_so():
    summary = paired_summary([0.10, 0.12, 0.09, 0.11, 0.10, 0.13])
    assert summary.ci_low > 0 and summary.p_value == pytest.approx(2 / 64)
    assert summary.detected
    assert "GC is higher (the interval excludes 0, p <= 0.05)" in summary.describe()


@pytest.mark.parametrize(
    "differences, why",
    [
        ([1.0, 1.1, 0.9, 1.05], "4 seeds cannot give p below 0.125"),  # t excludes 0, p=0.125
        ([0.01, 0.01], "2 seeds cannot give p below 0.5"),  # no spread: a zero-width interval
    ],
)
def test_an_interval_excluding_zero_without_the_sign_flip_test_is_not_a_detection(differences, why):
    summary = paired_summary(differences)
    assert summary.ci_low > 0 and not summary.detected
    assert why in summary.describe() and "no difference is detected" in summary.describe()


def test_fields_and_degenerate_spread():
    summary = paired_summary([0.0, 0.0, 0.0])
    assert tuple(dataclasses.asdict(summary))[: len(SUMMARY_FIELDS)] == SUMMARY_FIELDS
    assert (summary.std, summary.effect_size, summary.ties, summary.p_value) == (0, 0, 3, 1)
    assert paired_summary([0.1, 0.1]).effect_size == math.inf


def test_monte_carlo_above_twenty_is_seeded_and_close_to_exact_scipy_estimate():
    differences = np.random.default_rng(3).normal(0.01, 0.05, 24)
    first, second = sign_flip_p_value(differences), sign_flip_p_value(differences)
    assert first == second
    reference = scipy_stats.permutation_test(
        (differences,), np.mean, permutation_type="samples", n_resamples=200_000, random_state=1
    ).pvalue
    assert first == pytest.approx(reference, abs=0.01)


def test_the_monte_carlo_p_counts_the_observed_pattern():
    # 24 equal differences: only the all-plus and all-minus patterns are as extreme, so the
    # draws almost surely hold none; the observed pattern itself still counts: p > 0.
    extreme = np.full(24, 0.05)
    assert sign_flip_p_value(extreme) >= 1 / (MONTE_CARLO_DRAWS + 1)
    differences = np.random.default_rng(5).normal(0.02, 0.05, 30)
    signs = np.random.default_rng(MONTE_CARLO_SEED).choice([-1.0, 1.0], (MONTE_CARLO_DRAWS, 30))
    as_extreme = np.abs(signs @ differences) / 30 >= abs(differences.mean()) - 1e-12
    count = int(as_extreme.sum())
    assert sign_flip_p_value(differences) == (count + 1) / (MONTE_CARLO_DRAWS + 1)


@pytest.mark.parametrize("value, n", [(0.1, 3), (-0.3, 10), (1e-9, 10), (123.4, 7)])
def test_equal_differences_have_no_spread(value, n):
    # Their mean is rounded, so numpy's std is 1e-17 or so, not 0: that is no spread.
    assert np.full(n, value).std(ddof=1) > 0
    summary = paired_summary([value] * n)
    assert summary.std == 0 and summary.ci_low == summary.ci_high == summary.mean
    assert summary.effect_size == math.copysign(math.inf, value)
    assert summary.wins + summary.losses == n


def test_paired_fields_is_the_summary_as_a_row():
    fields, detected = paired_fields([0.1, 0.12, 0.09, 0.11, 0.10, 0.13])
    expected = paired_summary([0.1, 0.12, 0.09, 0.11, 0.10, 0.13])
    assert fields == {field: getattr(expected, field) for field in SUMMARY_FIELDS}
    assert detected == expected.detected is True
    kept, _ = paired_fields([0.1, float("nan"), 0.3])
    assert kept["n"] == 2 and kept["mean"] == pytest.approx(0.2)
    refused, detected = paired_fields([0.1, float("nan"), 0.3], drop_nonfinite=False)
    assert refused["n"] == 3 and math.isnan(refused["mean"]) and not detected
    single, _ = paired_fields([0.1])
    assert single["n"] == 1 and all(math.isnan(single[f]) for f in SUMMARY_FIELDS[1:])


@pytest.mark.parametrize(
    "differences, words",
    [
        ([0.1], "at least 2"),
        ([], "at least 2"),
        ([0.1, float("nan")], "finite"),
        ([0.1, float("inf")], "finite"),
        ("0.1 0.2", "sequence of numbers"),
        ([[0.1, 0.2]], r"one-dimensional.*shape \(1, 2\)"),
        ([[0.1, 0.2], [0.3, 0.4]], r"one-dimensional.*shape \(2, 2\)"),
    ],
)
def test_bad_differences_are_refused(differences, words):
    with pytest.raises(ValueError, match=words):
        paired_summary(differences)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, True, "0.95"])
def test_bad_confidence_is_refused(confidence):
    with pytest.raises(ValueError, match="confidence"):
        paired_summary([0.1, 0.2], confidence=confidence)
