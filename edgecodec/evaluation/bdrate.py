"""Bjøntegaard delta rate and delta PSNR between two rate-distortion curves (numpy only).

Method: piecewise cubic Hermite interpolation (PCHIP, Fritsch-Carlson monotone slopes,
the interpolant of ``scipy.interpolate.PchipInterpolator``), integrated exactly over the
overlapping interval. This is the "piecewise cubic" variant that replaced the single cubic
polynomial fit of VCEG-M33 in the JVET/AOM common test conditions: it never oscillates
between points and works with any number of points >= 2. The original cubic fit is kept
as ``method="cubic"`` (it needs 4 points per curve).

BD-rate: log-rate as a function of distortion (PSNR), mean difference over the common
distortion range, ``100 * (exp(mean) - 1)`` percent; negative means the test curve needs
fewer bits. BD-PSNR: distortion as a function of log-rate, mean difference in dB over the
common log-rate range. Both return ``None`` when the curves do not overlap.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

Curve = Callable[[np.ndarray], np.ndarray]


def _prepare(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Drop non-finite points, sort by x, average y over duplicate x values."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a curve needs two 1-D arrays of equal length, got {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    ux, inverse = np.unique(x, return_inverse=True)
    uy = np.bincount(inverse, weights=y, minlength=ux.size) / np.bincount(inverse, minlength=ux.size)
    return ux, uy


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson derivatives at the knots (shape-preserving, as SciPy's PCHIP)."""
    h, delta = np.diff(x), np.diff(y) / np.diff(x)
    if x.size == 2:
        return np.array([delta[0], delta[0]])
    d = np.zeros_like(x)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    same = (delta[:-1] * delta[1:]) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:])
    d[1:-1] = np.where(same, harmonic, 0.0)
    d[0] = _end_slope(h[0], h[1], delta[0], delta[1])
    d[-1] = _end_slope(h[-1], h[-2], delta[-1], delta[-2])
    return d


def _end_slope(h0: float, h1: float, m0: float, m1: float) -> float:
    """One-sided three-point end derivative, limited to keep the shape."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if np.sign(d) != np.sign(m0):
        return 0.0
    if np.sign(m0) != np.sign(m1) and abs(d) > abs(3 * m0):
        return 3 * m0
    return float(d)


def pchip(x: np.ndarray, y: np.ndarray) -> Curve:
    """The PCHIP interpolant through sorted, distinct knots ``x`` (evaluates inside [x0, xn])."""
    d = _pchip_slopes(x, y)

    def f(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        k = np.clip(np.searchsorted(x, t, side="right") - 1, 0, x.size - 2)
        h = x[k + 1] - x[k]
        s = (t - x[k]) / h
        h00, h10 = (1 + 2 * s) * (1 - s) ** 2, s * (1 - s) ** 2
        h01, h11 = s * s * (3 - 2 * s), s * s * (s - 1)
        return h00 * y[k] + h10 * h * d[k] + h01 * y[k + 1] + h11 * h * d[k + 1]

    return f


def _integrate_pchip(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Exact integral of the PCHIP interpolant over [lo, hi] (Simpson is exact on cubics)."""
    f = pchip(x, y)
    edges = np.concatenate([[lo], x[(x > lo) & (x < hi)], [hi]])
    a, b = edges[:-1], edges[1:]
    return float(np.sum((b - a) / 6 * (f(a) + 4 * f((a + b) / 2) + f(b))))


def _integrate_cubic(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Integral over [lo, hi] of the least-squares cubic through the points (VCEG-M33)."""
    if x.size < 4:
        raise ValueError("the cubic Bjøntegaard fit needs at least 4 distinct points per curve")
    p = np.polyint(np.polyfit(x, y, 3))
    return float(np.polyval(p, hi) - np.polyval(p, lo))


def _mean_difference(xa: Sequence[float], ya: Sequence[float], xb: Sequence[float], yb: Sequence[float],
                     method: str, min_span: float = 0.0) -> float | None:
    """Mean of (curve b - curve a) over their common x range; None when it is not wider than ``min_span``."""
    if method not in ("pchip", "cubic"):
        raise ValueError(f"unknown BD method {method!r} (choose pchip or cubic)")
    xa, ya = _prepare(xa, ya)
    xb, yb = _prepare(xb, yb)
    if xa.size < 2 or xb.size < 2:
        return None
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if not hi - lo > min_span:
        return None
    integrate = _integrate_pchip if method == "pchip" else _integrate_cubic
    return (integrate(xb, yb, lo, hi) - integrate(xa, ya, lo, hi)) / (hi - lo)


def bd_rate(anchor_rate: Sequence[float], anchor_psnr: Sequence[float], test_rate: Sequence[float],
            test_psnr: Sequence[float], method: str = "pchip", min_overlap: float = 0.0) -> float | None:
    """Average bit-rate difference of ``test`` against ``anchor`` in percent at equal quality.

    Rates must be positive (bpp); any distortion measure in dB works (PSNR, MS-SSIM dB).
    Returns None when the distortion ranges overlap by no more than ``min_overlap`` (dB) or a
    curve has < 2 points: an average over a sliver of quality says nothing.
    """
    ra, rb = np.asarray(anchor_rate, dtype=np.float64), np.asarray(test_rate, dtype=np.float64)
    if np.any(ra[np.isfinite(ra)] <= 0) or np.any(rb[np.isfinite(rb)] <= 0):
        raise ValueError("BD-rate needs positive rates")
    with np.errstate(divide="ignore"):
        diff = _mean_difference(anchor_psnr, np.log(ra), test_psnr, np.log(rb), method, min_overlap)
    return None if diff is None else float(100.0 * np.expm1(diff))


def bd_psnr(anchor_rate: Sequence[float], anchor_psnr: Sequence[float], test_rate: Sequence[float],
            test_psnr: Sequence[float], method: str = "pchip") -> float | None:
    """Average quality difference (dB) of ``test`` against ``anchor`` at equal rate; None without overlap."""
    ra, rb = np.asarray(anchor_rate, dtype=np.float64), np.asarray(test_rate, dtype=np.float64)
    if np.any(ra[np.isfinite(ra)] <= 0) or np.any(rb[np.isfinite(rb)] <= 0):
        raise ValueError("BD-PSNR needs positive rates")
    return _mean_difference(np.log(ra), anchor_psnr, np.log(rb), test_psnr, method)


def overlap(a: Sequence[float], b: Sequence[float]) -> tuple[float, float] | None:
    """Common [lo, hi] range of two sets of finite values, or None."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return None
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    return (float(lo), float(hi)) if hi > lo else None
