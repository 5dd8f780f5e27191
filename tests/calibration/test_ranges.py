"""int8 threshold choosers on synthetic activations."""
from __future__ import annotations

import numpy as np
import pytest

from edgecodec.calibration.ranges import (
    MIN_AMAX,
    QMAX,
    AbsHistogram,
    choose_threshold,
    entropy_threshold,
    percentile_threshold,
    scale_for,
)


@pytest.fixture(scope="module")
def gaussian_with_outliers() -> AbsHistogram:
    rng = np.random.default_rng(0)
    return AbsHistogram.of(np.concatenate([rng.normal(size=200_000), [100.0, -90.0, 80.0]]))


def test_percentile_clips_the_outliers(gaussian_with_outliers):
    t = percentile_threshold(gaussian_with_outliers, 99.99)
    assert 3.5 < t < 4.5  # |N(0,1)| has 99.99% below 3.89; the outliers at 80..100 are clipped
    assert percentile_threshold(gaussian_with_outliers, 100.0) == pytest.approx(100.0)


def test_entropy_threshold_is_below_the_maximum(gaussian_with_outliers):
    t = entropy_threshold(gaussian_with_outliers)
    assert 3.0 < t < 0.5 * gaussian_with_outliers.amax
    # the candidates are bin edges from 128 bins up: the threshold is one of them
    assert np.isclose(gaussian_with_outliers.edges, t).any()


def test_uniform_values_keep_their_full_range():
    h = AbsHistogram.of(np.random.default_rng(1).uniform(-2, 2, 100_000))
    assert entropy_threshold(h) == pytest.approx(2.0, rel=0.01)
    assert percentile_threshold(h, 99.99) == pytest.approx(2.0, rel=0.01)


@pytest.mark.parametrize("method", ["percentile", "entropy"])
def test_both_methods_give_positive_scales_even_for_zero_tensors(method, gaussian_with_outliers):
    assert choose_threshold(gaussian_with_outliers, method) > 0
    zero = AbsHistogram.of(np.zeros(100))
    assert choose_threshold(zero, method) == MIN_AMAX
    assert scale_for(choose_threshold(zero, method)) == pytest.approx(MIN_AMAX / QMAX)


def test_histogram_of_a_fixed_range_counts_overflow_in_the_last_bin():
    h = AbsHistogram.of(np.array([-0.5, 0.25, 3.0]), amax=1.0, bins=4)
    assert h.counts.tolist() == [0.0, 1.0, 1.0, 1.0] and h.edges[-1] == 1.0


def test_bad_method_and_percentile():
    h = AbsHistogram.of(np.ones(10))
    with pytest.raises(ValueError, match="unknown calibration method"):
        choose_threshold(h, "minmax")
    with pytest.raises(ValueError, match="percentile"):
        percentile_threshold(h, 0.0)
