"""Paired statistics for a GC comparison: one difference (GC - baseline) per seed.

Both arms of a seed share their initial weights, batches and dropout masks, so the per-seed
differences are the unit of analysis. `paired_summary` gives their mean with a Student-t
interval, an exact sign-flip p-value, and how many seeds GC won, tied and lost. An interval
that contains 0 means "no detectable difference", not "no difference". A difference counts as
detected only when the interval excludes 0 and the sign-flip test agrees
(`PairedSummary.detected`): with n seeds its p is never below 2/2**n.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from gc_tutorial.checks import fail

EXACT_PERMUTATION_MAX_N = 20  # 2**20 sign patterns: exact enumeration is still fast
MONTE_CARLO_DRAWS = 100_000
MONTE_CARLO_SEED = 0
# A std below this fraction of the largest |difference| is rounding, not spread: it is 0.
RELATIVE_SPREAD_TOLERANCE = 1e-12


@dataclass(frozen=True)
class PairedSummary:
    """What `paired_summary` returns; `dataclasses.asdict()` gives the table row."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    p_value: float
    wins: int
    ties: int
    losses: int
    effect_size: float
    confidence: float

    @property
    def detected(self) -> bool:
        """Whether the seeds show a difference: the interval excludes 0 and the sign-flip
        p-value is at most 1 - confidence."""
        excludes_zero = not self.ci_low <= 0 <= self.ci_high
        return excludes_zero and self.p_value <= 1 - self.confidence + 1e-12

    def describe(self, what: str = "GC - baseline") -> str:
        """One sentence a reader can quote, with the interval and what it means."""
        level = f"{self.confidence:.0%}"
        head = (
            f"{what}: {self.mean:+.4f} ({level} CI {self.ci_low:+.4f} to {self.ci_high:+.4f}, "
            f"n={self.n} seeds, p={self.p_value:.3g}; GC higher in {self.wins}, "
            f"equal in {self.ties}, lower in {self.losses})"
        )
        alpha = 1 - self.confidence
        if self.ci_low <= 0 <= self.ci_high:
            return head + ": no detectable difference (the interval contains 0)."
        if not self.detected:
            floor = 2 / 2**self.n
            limit = f"; {self.n} seeds cannot give p below {floor:.3g}" if floor > alpha else ""
            return head + (
                f": the interval excludes 0 but the sign-flip test does not agree (p > "
                f"{alpha:.2g}{limit}), so no difference is detected."
            )
        direction = "higher" if self.mean > 0 else "lower"
        return head + f": GC is {direction} (the interval excludes 0, p <= {alpha:.2g})."


# The fields of a summary table's row, in order.
SUMMARY_FIELDS = tuple(field.name for field in fields(PairedSummary) if field.name != "confidence")


def paired_summary(differences: Sequence[float], confidence: float = 0.95) -> PairedSummary:
    """Summarize per-seed paired differences (GC - baseline), at least 2, all finite.

    `std` is the sample std (ddof=1), `ci_low`/`ci_high` the Student-t interval of the mean
    at `confidence`, `p_value` the two-sided sign-flip test of mean 0 (exact over all 2**n
    sign patterns up to n=20, seeded Monte Carlo above), `wins`/`ties`/`losses` count the
    differences > 0, == 0 and < 0, and `effect_size` is mean / std. Equal differences have
    no spread: `std` is 0 (not the 1e-17 of rounding) and `effect_size` is +-inf (or 0).

    Examples:
        >>> s = paired_summary([0.1, 0.2, 0.3])
        >>> round(s.mean, 3), s.wins, s.p_value
        (0.2, 3, 0.25)
    """
    values = _check_differences(differences)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        fail("confidence", confidence, "a number in (0, 1)")
    if not 0 < confidence < 1:
        fail("confidence", confidence, "a number in (0, 1)")
    n = len(values)
    mean = float(values.mean())
    std = float(values.std(ddof=1))
    if std <= RELATIVE_SPREAD_TOLERANCE * float(np.abs(values).max()):
        std = 0.0  # equal differences: what is left of the std is rounding
    # Imported here: scipy takes a second to load, and a bad flag is answered before that.
    from scipy import stats as scipy_stats

    half_width = float(scipy_stats.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    return PairedSummary(
        n=n,
        mean=mean,
        std=std,
        ci_low=mean - half_width,
        ci_high=mean + half_width,
        p_value=sign_flip_p_value(values),
        wins=int((values > 0).sum()),
        ties=int((values == 0).sum()),
        losses=int((values < 0).sum()),
        effect_size=_effect_size(mean, std),
        confidence=float(confidence),
    )


def sign_flip_p_value(differences: np.ndarray) -> float:
    """Two-sided p-value of the sign-flip test of mean 0: under "GC makes no difference" each
    difference is as likely to be +d as -d, so the observed |mean| is compared with that of
    every sign pattern."""
    values = np.asarray(differences, dtype=np.float64)
    n = len(values)
    observed = abs(values.mean())
    tolerance = 1e-12 * max(1.0, float(np.abs(values).max()))

    def as_extreme(signs: np.ndarray) -> int:
        return int((np.abs(signs @ values) / n >= observed - tolerance).sum())

    if n <= EXACT_PERMUTATION_MAX_N:
        return sum(as_extreme(signs) for signs in _all_sign_patterns(n)) / 2**n
    signs = np.random.default_rng(MONTE_CARLO_SEED).choice([-1.0, 1.0], (MONTE_CARLO_DRAWS, n))
    return (as_extreme(signs) + 1) / (MONTE_CARLO_DRAWS + 1)


def paired_fields(
    differences: Sequence[float], confidence: float = 0.95, *, drop_nonfinite: bool = True
) -> tuple[dict, bool]:
    """`paired_summary`'s fields (`SUMMARY_FIELDS`) as a table row, and whether a difference
    is detected. With `drop_nonfinite`, seeds whose difference is NaN or inf are left out
    (`n` counts the others); without, they make every field but `n` NaN, as fewer than 2
    seeds do.

    Examples:
        >>> fields, detected = paired_fields([0.1, float("nan"), 0.3])
        >>> fields["n"], round(fields["mean"], 3), detected
        (2, 0.2, False)
    """
    values = np.asarray(differences, dtype=np.float64)
    if drop_nonfinite:
        values = values[np.isfinite(values)]
    if len(values) < 2 or not np.isfinite(values).all():
        return {field: len(values) if field == "n" else math.nan for field in SUMMARY_FIELDS}, False
    summary = paired_summary(values, confidence)
    return {field: getattr(summary, field) for field in SUMMARY_FIELDS}, summary.detected


def _all_sign_patterns(n: int, chunk_bits: int = 16):
    """All 2**n patterns of +-1, in chunks of at most 2**chunk_bits rows."""
    bits = np.arange(n)
    total = 2**n
    step = min(total, 2**chunk_bits)
    for start in range(0, total, step):
        codes = np.arange(start, min(start + step, total))[:, None]
        yield np.where((codes >> bits) & 1, -1.0, 1.0)


def _effect_size(mean: float, std: float) -> float:
    if std > 0:
        return mean / std
    return 0.0 if mean == 0 else math.copysign(math.inf, mean)


def _check_differences(differences) -> np.ndarray:
    try:
        values = None if isinstance(differences, (str, bytes)) else np.asarray(differences, float)
    except (TypeError, ValueError):
        values = None
    if values is None:  # outside the except block, so the error comes without its cause
        fail("differences", differences, "a sequence of numbers")
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(
            "`differences` must be one-dimensional and hold at least 2 per-seed differences "
            f"(an interval needs 2 seeds). Received: differences of shape {values.shape}."
        )
    if not np.isfinite(values).all():
        fail("differences", differences, "all finite (no NaN or inf)")
    return values
