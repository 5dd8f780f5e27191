"""Symmetric int8 activation ranges from histograms of |x| (numpy only).

A histogram covers [0, amax] of one tensor's absolute values in ``BINS`` equal bins.
Two ways to choose the clipping threshold t (the int8 scale is t / 127):

- percentile: the smallest bin edge below which ``p`` percent of the values lie
  (99.99 by default): rare outliers are clipped, everything else keeps full resolution.
- entropy: TensorRT's legacy entropy calibrator (as NVIDIA's pytorch-quantization implements
  it): for every candidate threshold (bin edge 128..BINS), the reference distribution P is
  the histogram below it with the clipped mass added to its last bin; Q is P's support
  quantised to 128 levels and expanded back; the threshold minimising KL(P || Q) wins
  (the largest one on ties). Both are smoothed first (empty bins get 1e-4 counts), as in
  MXNet's and TVM's implementations of the same calibrator, so that a Q which misses the
  clipped mass scores badly instead of infinitely.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 2048
LEVELS = 128  # magnitudes of signed int8: 0..127
QMAX = 127
MIN_AMAX = 1e-8  # an all-zero tensor still gets a valid (tiny) scale, as the QAT observer does


@dataclass
class AbsHistogram:
    """Counts of |x| in ``BINS`` equal bins over [0, amax]."""

    amax: float
    counts: np.ndarray

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(0.0, self.amax, self.counts.size + 1)

    @classmethod
    def of(cls, values: np.ndarray, amax: float | None = None, bins: int = BINS) -> "AbsHistogram":
        """Histogram of the absolute values (range [0, amax], default: their maximum)."""
        a = np.abs(np.asarray(values, dtype=np.float64)).ravel()
        top = max(float(a.max()) if amax is None and a.size else float(amax or 0.0), MIN_AMAX)
        counts, _ = np.histogram(np.minimum(a, top), bins=bins, range=(0.0, top))
        return cls(top, counts.astype(np.float64))


def percentile_threshold(hist: AbsHistogram, percentile: float = 99.99) -> float:
    """The bin edge below which ``percentile`` percent of the values lie."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    total = hist.counts.sum()
    if total <= 0:
        return MIN_AMAX
    cdf = np.cumsum(hist.counts) / total
    idx = int(np.searchsorted(cdf, percentile / 100.0 - 1e-12))
    return max(float(hist.edges[min(idx, hist.counts.size - 1) + 1]), MIN_AMAX)


def _smooth(counts: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Give empty bins ``eps`` counts, taken evenly from the others (MXNet's/TVM's smoothing)."""
    zero = counts == 0
    taken = eps * zero.sum() / max((~zero).sum(), 1)
    return counts + np.where(zero, eps, -taken)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) of two histograms, both smoothed so that Q's empty bins cost much, not infinitely."""
    if not q.any():
        return float("inf")
    p, q = _smooth(p), _smooth(q)
    p, q = p / p.sum(), q / q.sum()
    support = p > 0
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def _quantised(p: np.ndarray, counts: np.ndarray, levels: int) -> np.ndarray:
    """Q for one candidate: ``counts`` merged into ``levels`` bins, spread over P's non-zero bins."""
    i = counts.size
    width = i // levels
    starts = np.arange(levels) * width
    stops = np.append(starts[1:], i)  # the last level takes the remainder
    merged = np.add.reduceat(counts, starts)
    nonzero = np.add.reduceat((p > 0).astype(np.float64), starts)
    per_bin = np.divide(merged, nonzero, out=np.zeros(levels), where=nonzero > 0)
    q = np.repeat(per_bin, stops - starts)
    q[p == 0] = 0.0
    return q


def entropy_threshold(hist: AbsHistogram, levels: int = LEVELS) -> float:
    """TensorRT-style KL-divergence threshold (see the module docstring)."""
    counts = hist.counts
    if counts.sum() <= 0 or counts.size < levels:
        return MIN_AMAX
    best_i, best = counts.size, float("inf")
    for i in range(levels, counts.size + 1):
        p = counts[:i].copy()
        p[-1] += counts[i:].sum()
        if p.sum() <= 0:
            continue
        divergence = _kl(p, _quantised(p, counts[:i], levels))
        if divergence <= best:
            best_i, best = i, divergence
    return max(float(hist.edges[best_i]), MIN_AMAX)


def choose_threshold(hist: AbsHistogram, method: str, percentile: float = 99.99) -> float:
    """The clipping threshold of one tensor by ``method`` ('percentile' or 'entropy')."""
    if method == "percentile":
        return percentile_threshold(hist, percentile)
    if method == "entropy":
        return entropy_threshold(hist)
    raise ValueError(f"unknown calibration method {method!r} (choose percentile or entropy)")


def scale_for(threshold: float) -> float:
    """Symmetric int8 scale of a clipping threshold."""
    return max(threshold, MIN_AMAX) / QMAX
