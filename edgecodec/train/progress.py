"""Training progress: a tqdm bar on a terminal; elsewhere (nohup, journald, a pipe) a log line every
``interval_s`` seconds and at the end, never a carriage return."""
from __future__ import annotations

import logging
import math
import sys
import time
from typing import Callable, TextIO

from tqdm import tqdm

log = logging.getLogger("edgecodec.train")


class Progress:
    """Steps ``initial..total`` of a run; ``update`` after each step with its values (loss, bpp, ...)."""

    def __init__(self, total: int, initial: int = 0, enabled: bool = True, stream: TextIO | None = None,
                 interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        stream = stream or sys.stderr
        self.total, self.step, self.enabled, self.interval_s, self.clock = total, initial, enabled, interval_s, clock
        self.bar = tqdm(total=total, initial=initial, dynamic_ncols=True, file=stream) \
            if enabled and stream.isatty() else None
        self.start = self.last = clock()
        self.start_step = self.logged_step = initial
        self.values: dict[str, float] = {}

    def update(self, **values: float) -> None:
        """One step done."""
        self.step += 1
        self.values = values
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()})
        elif self.enabled:
            now = self.clock()
            if now - self.last >= self.interval_s or self.step >= self.total:
                self._log(now)

    def close(self) -> None:
        """The bar closed, or a last line for the steps since the last one."""
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.step > self.logged_step:
            self._log(self.clock())

    def _log(self, now: float) -> None:
        rate = (self.step - self.start_step) / max(now - self.start, 1e-9)
        eta = (self.total - self.step) / rate if rate > 0 else math.inf
        values = ", ".join(f"{k} {v:.4g}" for k, v in self.values.items())
        log.info("step %d/%d (%.0f%%)%s, %.3g steps/s, eta %s", self.step, self.total, 100 * self.step / self.total,
                 f", {values}" if values else "", rate, _duration(eta))
        self.last, self.logged_step = now, self.step


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unknown"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
