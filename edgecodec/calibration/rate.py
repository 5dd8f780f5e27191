"""Bits versus quality of the stream the daemon will send, and the highest quality that fits a budget.

The table codes the site's frames at the planned frame rate, in capture order, with a
StreamEncoder and the daemon's policy (a key frame every ``key_interval_s * fps`` frames and
on scene changes, delta frames against it in between; every frame a key frame for an
``--intra`` site), so its bits are those of key and delta frames as they will be sent.

The budget is a sustained bitrate: the spool and the uplink average bursts out over seconds,
so a single frame's size (a key frame a minute costs 10-70 delta frames) is not what must fit.
Two statistics, both over one key interval of the long run (below), in kbit/s:

- ``mean_kbps``: the stream's average. It must fit, or the spool grows without bound.
- ``window_kbps``: the ``percentile`` (default 90th) of the bitrate averaged over a sliding
  window of ``window_s`` seconds (default 5): busy stretches (more people, rain, headlights, a
  scene change) must fit as well, or the upload delay grows past a few seconds while they last.

The plan is the larger of the two (``required_kbps``): with a static scene the windows without
the key frame are below the mean, with a busy one the percentile is above it.

One key interval of the long run: the clip is usually shorter than the key interval (seconds
against a minute), so it is extended: its first frame (the key frame) followed by its other
frames (delta frames and any scene-change key frames) repeated in order up to the interval,
the window sliding over it cyclically. The clip is taken as representative of the time between
key frames. A clip longer than the interval, one without delta frames (intra) and a stream
without periodic key frames (interval 0: the first key frame amortised over an unbounded run,
so left out) are used as measured.

The choice is made on the upper monotone envelope of ``required_kbps`` (a running maximum over
quality, so it is conservative where the measurements wobble) and interpolated between grid
points linearly in quality and log-bitrate, rounded down to 0.1.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from ..codec.bitstream import DELTA, KEY

DEFAULT_GRID = tuple(float(q) for q in range(0, 101, 10))
DEFAULT_PERCENTILE = 90.0
DEFAULT_WINDOW_S = 5.0


@dataclass
class RateRow:
    """One grid quality: the clip's frame counts and mean size, the planning statistics, the PSNR if measured."""

    quality: float
    key_frames: int
    delta_frames: int
    mean_bytes: float  # per frame of the clip, as measured
    mean_kbps: float  # average over one key interval of the long run
    window_kbps: float  # percentile of the window-averaged bitrate
    required_kbps: float  # max(mean_kbps, window_kbps): what must fit the budget
    psnr: float | None = None  # mean over the clip's frames (RGB, against the source frames)


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


def key_period(sizes: Sequence[int], kinds: Sequence[int], key_interval: int) -> np.ndarray:
    """Per-frame bits of one key interval of the long run, from the clip (see the module docstring)."""
    bits = 8.0 * np.asarray(sizes, dtype=np.float64)
    if bits.size == 0:
        raise ValueError("no frames were coded")
    if DELTA not in kinds or (key_interval and bits.size >= key_interval):
        return bits
    rest = bits[1:]
    if not key_interval:
        return rest
    return np.concatenate([bits[:1], np.resize(rest, key_interval - 1)])


def window_averages(period: np.ndarray, frames: int) -> np.ndarray:
    """Mean bits per frame over every cyclic window of ``frames`` frames (at most the period)."""
    frames = max(1, min(frames, period.size))
    cumulative = np.concatenate([[0.0], np.cumsum(np.concatenate([period, period[:frames - 1]]))])
    return (cumulative[frames:frames + period.size] - cumulative[:period.size]) / frames


def stream_row(quality: float, sizes: Sequence[int], kinds: Sequence[int], fps: float, key_interval: int,
               window_s: float = DEFAULT_WINDOW_S, percentile: float = DEFAULT_PERCENTILE,
               psnr: float | None = None) -> RateRow:
    """The table row of one coded clip (``sizes`` in bytes, ``kinds`` KEY / DELTA per frame, in order)."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    period = key_period(sizes, kinds, key_interval)
    windows = window_averages(period, round(window_s * fps))
    mean, window = kbps(float(period.mean()), fps), kbps(float(np.percentile(windows, percentile)), fps)
    keys = sum(k == KEY for k in kinds)
    return RateRow(float(quality), keys, len(kinds) - keys, float(np.mean(sizes)), mean, window,
                   max(mean, window), psnr)


def _envelope(table: list[RateRow]) -> np.ndarray:
    """Running maximum of the required kbit/s over increasing quality."""
    return np.maximum.accumulate(np.array([r.required_kbps for r in table]))


def expected_kbps(table: list[RateRow], quality: float) -> float:
    """Required kbit/s at any quality inside the grid (log-linear on the envelope)."""
    q = np.array([r.quality for r in table])
    return float(np.exp(np.interp(quality, q, np.log(np.maximum(_envelope(table), 1e-9)))))


def choose_quality(table: list[RateRow], budget_kbps: float) -> RateChoice:
    """The highest quality whose required bitrate is within ``budget_kbps`` (rows sorted by quality)."""
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


def max_fps(table: list[RateRow], budget_kbps: float, fps: float) -> float:
    """About the frame rate at which the lowest grid quality fits (advice when nothing fits): the bitrate
    taken as proportional to the frame rate."""
    return fps * budget_kbps / max(table[0].required_kbps, 1e-9)
