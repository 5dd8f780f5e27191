"""Bits versus quality on the site's frames, and the highest quality that fits a bitrate budget.

The table holds, per grid quality, the mean and a high percentile (default the 90th) of the
per-frame bits of real encodings. The choice uses the percentile, not the mean: a frame
busier than usual (more people, rain, headlights) must still fit, and a bitrate planned on
the mean would be exceeded half of the time. kbit/s = bits per frame * fps / 1000.

The choice is made on the upper monotone envelope of the percentile bits (a running maximum
over quality, so it is conservative where the measurements wobble) and interpolated between
grid points linearly in quality and log-bits, rounded down to 0.1.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

DEFAULT_GRID = tuple(float(q) for q in range(0, 101, 10))
DEFAULT_PERCENTILE = 90.0


@dataclass
class RateRow:
    """One grid quality: mean and percentile bits per frame, and their kbit/s at the planned fps."""

    quality: float
    mean_bits: float
    percentile_bits: float
    mean_kbps: float
    percentile_kbps: float


@dataclass
class RateChoice:
    """The chosen quality and what it should cost; ``fits`` is False when even the lowest does not fit."""

    quality: float
    expected_kbps: float
    fits: bool
    budget_kbps: float

    def to_dict(self) -> dict:
        return asdict(self)


def kbps(bits_per_frame: float, fps: float) -> float:
    """Bitrate of a stream of frames of this size."""
    return bits_per_frame * fps / 1000.0


def percentile_bits(sizes: Sequence[int], percentile: float = DEFAULT_PERCENTILE) -> float:
    """The ``percentile`` of per-frame bits (sizes in bytes)."""
    return float(np.percentile(8.0 * np.asarray(sizes, dtype=np.float64), percentile))


def rate_table(sizes: dict[float, Sequence[int]], fps: float,
               percentile: float = DEFAULT_PERCENTILE) -> list[RateRow]:
    """Rows sorted by quality from {quality: per-frame byte counts}."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    rows = []
    for q in sorted(sizes):
        mean_bits = 8.0 * float(np.mean(sizes[q]))
        p_bits = percentile_bits(sizes[q], percentile)
        rows.append(RateRow(q, mean_bits, p_bits, kbps(mean_bits, fps), kbps(p_bits, fps)))
    return rows


def _envelope(table: list[RateRow]) -> np.ndarray:
    """Running maximum of the percentile kbit/s over increasing quality."""
    return np.maximum.accumulate(np.array([r.percentile_kbps for r in table]))


def expected_kbps(table: list[RateRow], quality: float) -> float:
    """Percentile kbit/s at any quality inside the grid (log-linear on the envelope)."""
    q = np.array([r.quality for r in table])
    return float(np.exp(np.interp(quality, q, np.log(np.maximum(_envelope(table), 1e-9)))))


def choose_quality(table: list[RateRow], budget_kbps: float) -> RateChoice:
    """The highest quality whose expected (percentile) bitrate is within ``budget_kbps``."""
    if budget_kbps <= 0:
        raise ValueError(f"the budget must be positive, got {budget_kbps} kbit/s")
    if not table:
        raise ValueError("empty rate table")
    env = _envelope(table)
    fitting = np.nonzero(env <= budget_kbps)[0]
    if fitting.size == 0:
        return RateChoice(table[0].quality, float(env[0]), False, budget_kbps)
    k = int(fitting[-1])
    if k == len(table) - 1:
        return RateChoice(table[k].quality, float(env[k]), True, budget_kbps)
    lo, hi = table[k].quality, table[k + 1].quality
    t = (math.log(budget_kbps) - math.log(max(env[k], 1e-9))) / (math.log(env[k + 1]) - math.log(max(env[k], 1e-9)))
    quality = max(lo, math.floor((lo + t * (hi - lo)) * 10) / 10)
    return RateChoice(quality, expected_kbps(table, quality), True, budget_kbps)


def max_fps(table: list[RateRow], budget_kbps: float) -> float:
    """The frame rate at which the lowest grid quality fits the budget (advice when nothing fits)."""
    return budget_kbps * 1000.0 / max(table[0].percentile_bits, 1e-9)
