"""Bjøntegaard delta rate / PSNR on curves whose answer is known exactly."""
from __future__ import annotations

import numpy as np
import pytest

from edgecodec.evaluation.bdrate import bd_psnr, bd_rate, overlap, pchip

# A realistic anchor: the shape of a learned codec on Kodak (bpp, PSNR).
BPP = [0.12, 0.20, 0.31, 0.45, 0.66, 0.92]
PSNR = [27.7, 29.4, 31.1, 32.8, 34.6, 36.4]
METHODS = ("pchip", "cubic")


@pytest.mark.parametrize("method", METHODS)
def test_identical_curves_give_zero(method):
    assert bd_rate(BPP, PSNR, BPP, PSNR, method) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(BPP, PSNR, BPP, PSNR, method) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_constant_rate_ratio(method):
    cheaper = [0.8 * r for r in BPP]
    assert bd_rate(BPP, PSNR, cheaper, PSNR, method) == pytest.approx(-20.0, abs=1e-9)
    assert bd_rate(cheaper, PSNR, BPP, PSNR, method) == pytest.approx(25.0, abs=1e-9)


def test_constant_ratio_sampled_at_other_points():
    """log-rate linear in PSNR is reproduced exactly by PCHIP, wherever it is sampled."""
    def rate(p):
        return 0.05 * np.exp(0.25 * (np.asarray(p) - 26.0))

    anchor_psnr = np.array([26.0, 28.5, 30.0, 33.0, 36.0])
    test_psnr = np.array([27.0, 29.0, 31.5, 34.0, 37.5])
    assert bd_rate(rate(anchor_psnr), anchor_psnr, 0.8 * rate(test_psnr), test_psnr) == pytest.approx(-20.0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_bd_psnr_of_shifted_curve(method):
    better = [p + 1.0 for p in PSNR]
    assert bd_psnr(BPP, PSNR, BPP, better, method) == pytest.approx(1.0, abs=1e-9)
    assert bd_psnr(BPP, better, BPP, PSNR, method) == pytest.approx(-1.0, abs=1e-9)
    assert bd_rate(BPP, PSNR, BPP, better, method) < 0


def test_no_overlap_is_none():
    high = [p + 20.0 for p in PSNR]
    far = [r * 100 for r in BPP]
    assert bd_rate(BPP, PSNR, BPP, high) is None
    assert bd_psnr(BPP, PSNR, far, PSNR) is None
    assert overlap(PSNR, high) is None


def test_too_few_points_and_non_finite_values():
    assert bd_rate(BPP, PSNR, [0.5], [30.0]) is None
    assert bd_rate(BPP, PSNR, [0.5, 0.6], [float("inf"), float("nan")]) is None
    with_lossless = BPP + [8.0]
    assert bd_rate(with_lossless, PSNR + [float("inf")], BPP, PSNR) == pytest.approx(0.0, abs=1e-9)


def test_unsorted_and_duplicate_points():
    cheaper = [0.8 * r for r in BPP]
    order = [3, 0, 5, 1, 4, 2]
    shuffled = bd_rate([BPP[i] for i in order], [PSNR[i] for i in order], cheaper[::-1], PSNR[::-1])
    assert shuffled == pytest.approx(-20.0, abs=1e-9)
    duplicated = bd_rate(BPP + BPP[:2], PSNR + PSNR[:2], cheaper, PSNR)
    assert duplicated == pytest.approx(-20.0, abs=1e-9)


def test_non_positive_rate_and_unknown_method_are_errors():
    with pytest.raises(ValueError):
        bd_rate([0.0, 0.1], [30, 31], BPP, PSNR)
    with pytest.raises(ValueError):
        bd_rate(BPP, PSNR, BPP, PSNR, method="akima")
    with pytest.raises(ValueError):
        bd_rate(BPP[:3], PSNR[:3], BPP[:3], PSNR[:3], method="cubic")


def test_pchip_interpolates_and_preserves_monotonicity():
    x = np.array([0.0, 1.0, 2.0, 5.0, 6.0])
    y = np.array([0.0, 0.1, 3.0, 3.1, 10.0])
    f = pchip(x, y)
    assert np.allclose(f(x), y)
    t = np.linspace(0, 6, 601)
    assert np.all(np.diff(f(t)) >= -1e-12)


def test_pchip_matches_scipy():
    interpolate = pytest.importorskip("scipy.interpolate")
    x, y = np.array(PSNR), np.log(BPP)
    t = np.linspace(x[0], x[-1], 50)
    assert np.allclose(pchip(x, y)(t), interpolate.PchipInterpolator(x, y)(t), atol=1e-12)


def test_a_sliver_of_overlap_gives_no_bd_rate():
    anchor = ([0.2, 0.5, 1.0], [26.0, 29.0, 32.0])
    test = ([0.1, 0.2, 0.3], [24.0, 28.0, 32.2])  # overlaps [26, 32]: a real comparison
    assert bd_rate(*anchor, *test, min_overlap=0.5) is not None
    sliver = ([0.6, 0.8, 1.0], [31.8, 32.1, 32.2])  # overlaps [31.8, 32.0]: 0.2 dB
    assert bd_rate(*anchor, *sliver) is not None
    assert bd_rate(*anchor, *sliver, min_overlap=0.5) is None
