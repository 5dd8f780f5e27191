"""The settings of a calibration run, and their validation (cheap to import: no torch)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..codec.bitstream import CHAIN, MAX_REFERENCE_DEPTH
from .rate import DEFAULT_GRID, DEFAULT_PERCENTILE, DEFAULT_WINDOW_S

EVAL_QUALITIES = (10.0, 30.0, 50.0, 70.0, 90.0)
METHODS = ("percentile", "entropy")


@dataclass
class CalibrateOptions:
    """Everything ``edgecodec calibrate`` takes."""

    source: str
    frames: int
    out: str
    budget_kbps: float
    fps: float
    model: str | None = None
    adapt: bool = False
    adapt_steps: int = 200
    adapt_lr: float = 3e-5
    method: str = "percentile"
    percentile: float = 99.99
    rate_percentile: float = DEFAULT_PERCENTILE
    rate_window: float = DEFAULT_WINDOW_S
    stream_frames: int = 30
    key_interval: float = 60.0  # the daemon's key_interval_s
    scene_change: float = 0.5
    chain: int = CHAIN  # the daemon's chain
    intra: bool = False
    quality_grid: tuple[float, ...] = DEFAULT_GRID
    eval_qualities: tuple[float, ...] = EVAL_QUALITIES
    interval: float = 2.0
    capture_timeout: float | None = None
    seed: int = 0
    command: str = ""


def validate(opts: CalibrateOptions) -> None:
    """Raise ValueError for settings no calibration can use (before anything is read or written)."""
    checks = [(opts.frames >= 2, f"--frames must be at least 2 (one to calibrate, one held out), got {opts.frames}"),
              (_positive(opts.budget_kbps), f"--budget-kbps must be positive and finite, got {opts.budget_kbps:g}"),
              (_positive(opts.fps), f"--fps must be positive and finite, got {opts.fps:g}"),
              (opts.method in METHODS, f"unknown calibration method {opts.method!r}"),
              (0 < opts.percentile <= 100 and 0 < opts.rate_percentile <= 100, "percentiles must be in (0, 100]"),
              (opts.interval == 0 or _positive(opts.interval),
               f"--interval must be >= 0 and finite, got {opts.interval:g}"),
              (opts.adapt_steps >= 1 and _positive(opts.adapt_lr),
               "--adapt-steps must be >= 1 and --adapt-lr positive"),
              (len(set(opts.eval_qualities)) >= 2, "--eval-qualities needs at least 2 distinct qualities (a curve)"),
              (len(opts.quality_grid) >= 1, "--quality-grid needs at least one quality"),
              (opts.stream_frames >= 2, f"--stream-frames must be at least 2, got {opts.stream_frames}"),
              (_positive(opts.rate_window), f"--rate-window must be positive and finite, got {opts.rate_window:g}"),
              (opts.key_interval == 0 or _positive(opts.key_interval),
               f"--key-interval must be >= 0 and finite, got {opts.key_interval:g}"),
              (0 < opts.scene_change <= 1, f"--scene-change must be in (0, 1], got {opts.scene_change:g}"),
              (1 <= opts.chain <= MAX_REFERENCE_DEPTH,
               f"--chain must be in 1..{MAX_REFERENCE_DEPTH}, got {opts.chain}")]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    if opts.capture_timeout is not None and not _positive(opts.capture_timeout):
        raise ValueError(f"--capture-timeout must be positive and finite, got {opts.capture_timeout:g}")
    for q in (*opts.quality_grid, *opts.eval_qualities):
        if not 0 <= q <= 100:
            raise ValueError(f"qualities must be within 0..100, got {q:g}")


def _positive(value: float) -> bool:
    """A finite number above 0 (NaN and infinity are not)."""
    return math.isfinite(value) and value > 0
