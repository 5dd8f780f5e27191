"""The capture and encode roles, joined by a bounded queue that drops and counts (or blocks)."""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from ..codec import bitstream
from ..imageio import to_rgb8
from .metrics import DaemonMetrics
from .sequence import SequenceAllocator
from .sources import SourcePlan
from .spool import NoRoom, Spool
from .watchdog import Permanent

if TYPE_CHECKING:
    from ..codec.stream import EncodedFrame

log = logging.getLogger("edgecodec.daemon")


class FrameQueue:
    """Bounded queue of (capture time in us, BGR frame). ``drop``: a full queue drops the new frame."""

    def __init__(self, size: int, drop: bool, metrics: DaemonMetrics):
        self._q: queue.Queue = queue.Queue(maxsize=size)
        self.drop, self.metrics = drop, metrics

    def put(self, item: tuple[int, np.ndarray], stop: threading.Event) -> None:
        if self.drop:
            try:
                self._q.put_nowait(item)
            except queue.Full:
                self.metrics.dropped.inc()
            return
        while not stop.is_set():
            try:
                self._q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def get(self, timeout: float) -> tuple[int, np.ndarray] | None:
        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            return None

    def empty(self) -> bool:
        return self._q.empty()


class Capture:
    """Reads frames from the source at most ``fps`` per second until the end, ``max_frames`` or stop.

    A live source that stops delivering raises, so the watchdog reopens it (limited restarts); a
    file that cannot be opened is a permanent error (no restarts)."""

    def __init__(self, plan: SourcePlan, opener: Callable[[SourcePlan], Any], frames: FrameQueue,
                 metrics: DaemonMetrics, fps: float | None, max_frames: int | None, loop: bool,
                 stop: threading.Event, done: threading.Event):
        self.plan, self.opener, self.frames, self.metrics = plan, opener, frames, metrics
        self.fps = fps
        self.max_frames, self.loop, self.stop, self.done = max_frames, loop, stop, done
        self.count = 0  # survives restarts: max_frames counts the whole run

    def run(self) -> None:
        try:
            cap = self.opener(self.plan)
        except OSError as e:
            if self.plan.live:
                raise
            raise Permanent(str(e)) from None
        fps = self.fps
        if fps is None:  # a file plays at its own rate, a live source as fast as it delivers
            fps = 0.0 if self.plan.live else float(cap.get(5) or 0.0)  # 5 = cv2.CAP_PROP_FPS
        try:
            self._read_loop(cap, 1.0 / fps if fps > 0 else 0.0)
        finally:
            cap.release()
        self.done.set()

    def _read_loop(self, cap: Any, period: float) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set() and (self.max_frames is None or self.count < self.max_frames):
            ok, frame = cap.read()
            if not ok:
                if self.plan.live:
                    raise OSError(f"source {self.plan.target!r} stopped delivering frames")
                if not self.loop or not cap.set(1, 0) or self.count == 0:  # 1 = cv2.CAP_PROP_POS_FRAMES
                    return
                continue
            self.frames.put((time.time_ns() // 1000, frame), self.stop)
            self.count += 1
            self.metrics.captured.inc()
            if period:
                next_at = max(next_at + period, time.monotonic())
                self.stop.wait(max(0.0, next_at - time.monotonic()))


class FrameCoder(Protocol):
    """A stream encoder (codec.stream.StreamEncoder): key frames, and delta frames against the key frame
    or the previous frame of their chain."""

    def encode(self, image: np.ndarray, seq: int) -> EncodedFrame: ...

    def force_key(self) -> None: ...

    def restart_chain(self) -> None: ...


class Encoder:
    """Encodes queued frames as a stream and spools them under fresh sequence numbers; drains the
    queue at the end.

    The stream starts with a key frame, and codes one again (``force_key``) at every (re)start of
    this role, every ``key_interval_s`` of capture time, when the key frame could not be spooled,
    and when the spool evicted the key frame the stream references (``reference_evicted``). A delta
    frame may reference the previous delta frame (chains); when that frame could not be spooled, or
    the spool evicted it, the next delta frame references the key frame (``restart_chain``): a
    delta frame is never shipped against a frame the server will not get.
    A frame over the spool's pixel limit (the configuration's max_pixels) is dropped and counted
    before encoding, and so is one the spool has no room for (even after evicting)."""

    def __init__(self, coder: FrameCoder, frames: FrameQueue, spool: Spool, seqs: SequenceAllocator,
                 metrics: DaemonMetrics, capture_done: threading.Event, abort: threading.Event,
                 key_interval_s: float = 0.0):
        self.coder, self.frames, self.spool, self.seqs = coder, frames, spool, seqs
        self.metrics, self.capture_done, self.abort = metrics, capture_done, abort
        self.key_interval_us = round(key_interval_s * 1e6)
        self.done = threading.Event()
        self.oversized: set[tuple[int, int]] = set()
        self._key_us: int | None = None  # capture time of the referenced key frame
        self._key_seq: int | None = None
        self._tail: int | None = None  # the spooled delta frame the next delta frame may reference

    def reference_evicted(self, seq: int) -> None:
        """The spool evicted frame ``seq``: if it is the referenced key frame, the next frame is a key frame;
        if it is the delta frame the chain continues from, the next delta frame references the key frame."""
        if seq == self._key_seq:
            self._key_us = self._key_seq = None
        elif seq == self._tail:
            self._tail = None
            self.coder.restart_chain()

    def run(self) -> None:
        self._key_us = self._key_seq = self._tail = None  # a (re)started role does not trust the stream state
        while not self.abort.is_set():
            item = self.frames.get(timeout=0.2)
            if item is None:
                if self.capture_done.is_set() and self.frames.empty():
                    self.done.set()
                    return
                continue
            self._encode_one(*item)

    def _encode_one(self, capture_us: int, bgr: np.ndarray) -> None:
        height, width = bgr.shape[:2]
        if width * height > self.spool.max_pixels:
            if (width, height) not in self.oversized:  # once per size, not once per frame
                self.oversized.add((width, height))
                log.error("frames of %dx%d are over max_pixels (%d): dropped before encoding", width, height,
                          self.spool.max_pixels)
            self.metrics.dropped.inc()
            return
        try:
            seq = self.spool.retry_full(self.seqs.next)
        except NoRoom:  # not even the sequence state could be written
            self.metrics.dropped.inc()
            return
        if self._key_due(capture_us):
            self.coder.force_key()
        t0 = time.perf_counter()
        frame = self.coder.encode(to_rgb8(bgr, "frame"), seq)
        self.metrics.encode_seconds.observe(time.perf_counter() - t0)
        key = frame.kind == bitstream.KEY
        self.metrics.count_encoded("key" if key else "delta", len(frame.data), frame.skipped)
        if key:
            self._key_us, self._key_seq, self._tail = capture_us, seq, None
        stored = self.spool.put(seq, capture_us, frame.data)
        if not key:
            self._chain_after(frame, stored)
        elif not stored:  # the reference would never reach the server
            self._key_us = self._key_seq = None
        (self.metrics.spooled if stored else self.metrics.dropped).inc()
        self.metrics.spool_frames.set(len(self.spool))
        self.metrics.spool_bytes.set(self.spool.total_bytes)

    def _chain_after(self, frame: EncodedFrame, stored: bool) -> None:
        """The chain continues from a spooled delta frame whose reference was not lost; one that was not
        spooled is never referenced (the next delta frame references the key frame)."""
        if not stored:
            self._tail = None
            self.coder.restart_chain()
        elif frame.ref_seq in (self._tail, self._key_seq):  # else its put evicted its reference: handled there
            self._tail = frame.seq

    def _key_due(self, capture_us: int) -> bool:
        """No spooled reference, or the key interval passed (or the clock stepped back)."""
        if self._key_us is None:
            return True
        return self.key_interval_us > 0 and not 0 <= capture_us - self._key_us < self.key_interval_us
