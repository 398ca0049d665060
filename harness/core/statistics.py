"""Sampling error: a top-1 measured on N images is an estimate, and so is the median of
N repeated timings (reports and the sweep's --target-ci read both from here).

Both tests come from statsmodels: the Wilson score interval for one top-1, and
McNemar's exact test for two runs on the same samples, which uses only the samples
on which the two disagree (a 1-point gap on 1000 images is within noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

CONFIDENCE = 0.95
SIGNIFICANCE = 0.05


def wilson_interval(top1: float, count: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a top-1 measured on `count` samples."""
    low, high = proportion_confint(round(top1 * count), count, alpha=1 - CONFIDENCE,
                                   method="wilson")
    return float(low), float(high)


@dataclass(frozen=True)
class PairedComparison:
    """Two runs' per-sample correctness, compared on the same samples."""

    samples: int
    only_first_right: int  # the samples the first run got right and the second wrong
    only_second_right: int
    difference: float  # top-1 of the second minus top-1 of the first
    p_value: float  # McNemar's exact test (two-sided binomial on the disagreements)

    @property
    def significant(self) -> bool:
        return self.p_value < SIGNIFICANCE


def paired_comparison(first_correct: np.ndarray, second_correct: np.ndarray) -> PairedComparison:
    """McNemar's exact test of whether two runs' top-1 differ, from per-sample correctness."""
    if first_correct.shape != second_correct.shape:
        raise ValueError(f"not the same samples: {first_correct.shape} vs "
                         f"{second_correct.shape}")
    first_correct, second_correct = first_correct.astype(bool), second_correct.astype(bool)
    both = int(np.sum(first_correct & second_correct))
    only_first = int(np.sum(first_correct & ~second_correct))
    only_second = int(np.sum(~first_correct & second_correct))
    neither = int(np.sum(~first_correct & ~second_correct))
    if only_first + only_second == 0:
        p_value = 1.0  # identical predictions of right and wrong: no evidence of a difference
    else:
        p_value = float(mcnemar([[both, only_first], [only_second, neither]],
                                exact=True).pvalue)
    return PairedComparison(len(first_correct), only_first, only_second,
                            (only_second - only_first) / len(first_correct), p_value)


NOISY_WIDTH = 0.10  # an interval wider than this fraction of its median: flagged noisy
BOOTSTRAP_RESAMPLES = 9999


def median_interval(values: list[float]) -> tuple[float, float | None, float | None]:
    """(median, low, high): the 95% percentile-bootstrap interval of the median of
    repeated measurements (scipy.stats.bootstrap, fixed seed); no interval from one."""
    from scipy.stats import bootstrap

    data = np.asarray(values, dtype=float)
    median = float(np.median(data))
    if len(data) < 2:
        return median, None, None
    if np.all(data == data[0]):
        return median, median, median
    result = bootstrap((data,), np.median, confidence_level=CONFIDENCE,
                       n_resamples=BOOTSTRAP_RESAMPLES, method="percentile",
                       random_state=np.random.default_rng(0))
    interval = result.confidence_interval
    return median, float(interval.low), float(interval.high)


def is_noisy(median: float, low: float | None, high: float | None) -> bool:
    return low is not None and high is not None and median != 0 and \
        (high - low) / abs(median) > NOISY_WIDTH


# Below this many repeats a bootstrap interval of the median says too little to stop on.
MIN_REPEATS_FOR_TARGET = 3


def interval_width_pct(median: float, low: float | None, high: float | None) -> float | None:
    """The 95% interval's width in % of the median; None without an interval."""
    if low is None or high is None or not median:
        return None
    return (high - low) / abs(median) * 100


def meets_target(repeats: int, width_pct: float | None, target_pct: float) -> bool:
    """`sweep --target-ci`'s rule: enough repeats, and an interval within the target."""
    return repeats >= MIN_REPEATS_FOR_TARGET and width_pct is not None \
        and width_pct <= target_pct
