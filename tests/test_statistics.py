"""Sampling error of top-1: Wilson intervals and McNemar's exact paired test."""

import math

import numpy as np
import pytest

from harness.core.statistics import paired_comparison, wilson_interval


def test_wilson_interval_of_72_percent_on_1000_images():
    low, high = wilson_interval(0.72, 1000)
    # Wilson's closed form: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    z, n, p = 1.959963984540054, 1000, 0.72
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (low, high) == pytest.approx((centre - half, centre + half), abs=1e-9)
    assert high - low > 0.05  # ±2.8 points: a 1-point gap is inside it


def test_mcnemar_exact_on_constructed_disagreements():
    # 1000 samples: both right on 700, only fp32 right on 15, only int8 right on 5
    fp32 = np.zeros(1000, bool)
    int8 = np.zeros(1000, bool)
    fp32[:700] = int8[:700] = True
    fp32[700:715] = True
    int8[715:720] = True
    test = paired_comparison(fp32, int8)
    assert (test.only_first_right, test.only_second_right) == (15, 5)
    assert test.difference == pytest.approx(-0.010)
    # exact McNemar: two-sided binomial on the 20 disagreements at 1/2, by hand
    tail = sum(math.comb(20, k) for k in range(6)) / 2**20
    assert test.p_value == pytest.approx(2 * tail, rel=1e-9)
    assert test.significant


def test_a_one_point_gap_from_few_disagreements_is_not_significant():
    fp32 = np.zeros(1000, bool)
    fp32[:720] = True
    int8 = fp32.copy()
    int8[:10] = False  # 10 samples flip to wrong
    int8[900:904] = True  # and 4 to right: a net 0.6-point drop
    fp32_only, int8_only = 10, 4
    test = paired_comparison(fp32, int8)
    assert (test.only_first_right, test.only_second_right) == (fp32_only, int8_only)
    tail = sum(math.comb(14, k) for k in range(5)) / 2**14
    assert test.p_value == pytest.approx(2 * tail, rel=1e-9)
    assert not test.significant


def test_identical_predictions_and_mismatched_samples():
    same = np.arange(50) % 3 == 0
    assert paired_comparison(same, same).p_value == 1.0
    with pytest.raises(ValueError, match="not the same samples"):
        paired_comparison(same, same[:40])


def test_bootstrap_interval_of_a_median_has_its_known_ranks():
    from scipy.stats import binom

    from harness.core.statistics import median_interval

    # Five distinct values: a resampled median is the minimum when 3 or more of 5 draws
    # are, probability 5.8% > 2.5%, so the 95% interval runs from min to max.
    assert median_interval([100, 102, 98, 101, 99]) == (100, 98, 102)
    # Nine: the resampled median is at most the k-th smallest with probability
    # P(Binomial(9, k/9) >= 5); the interval starts at the first k where that
    # exceeds 2.5%, and ends symmetrically.
    values = [10.0, 11, 12, 13, 14, 15, 16, 17, 18]
    k = next(k for k in range(1, 10) if binom.sf(4, 9, k / 9) > 0.025)
    assert median_interval(values) == (14.0, values[k - 1], values[-k])
    assert median_interval([7.0]) == (7.0, None, None)
    assert median_interval([7.0, 7.0, 7.0]) == (7.0, 7.0, 7.0)
