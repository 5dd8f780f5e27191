"""Capture, queue, upload and watchdog behaviour with fakes (no camera, no network)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edgecodec.checkpoint import from_checkpoint
from edgecodec.codec import codec
from edgecodec.edge.metrics import BitrateMeter, DaemonMetrics
from edgecodec.edge.roles import Capture, FrameQueue
from edgecodec.edge.sources import SourcePlan
from edgecodec.edge.spool import Spool
from edgecodec.edge.uploader import Backoff, Uploader
from edgecodec.edge.watchdog import GaveUp, Watchdog

pytestmark = pytest.mark.usefixtures("one_thread")
FRAME = np.zeros((4, 4, 3), np.uint8)


class FakeCapture:
    def __init__(self, frames: int):
        self.left, self.rewinds = frames, 0
        self.total = frames

    def read(self):
        if self.left == 0:
            return False, None
        self.left -= 1
        return True, FRAME

    def set(self, prop, value):
        self.rewinds += 1
        self.left = self.total
        return True

    def get(self, prop):
        return 0.0

    def release(self):
        pass


def capture(plan, cap, frames, metrics, max_frames=None, loop=False):
    return Capture(plan, lambda p: cap, frames, metrics, 0, max_frames, loop, threading.Event(), threading.Event())


def test_a_full_queue_drops_and_counts_for_live_sources():
    metrics = DaemonMetrics()
    frames = FrameQueue(2, drop=True, metrics=metrics)
    role = capture(SourcePlan("v4l2", 0, "CAP_V4L2", True), FakeCapture(5), frames, metrics, max_frames=5)
    role.run()
    assert metrics.snapshot()["captured"] == 5 and metrics.snapshot()["dropped"] == 3 and role.done.is_set()


def test_a_file_blocks_instead_of_dropping_and_loops():
    metrics = DaemonMetrics()
    frames = FrameQueue(1, drop=False, metrics=metrics)
    cap = FakeCapture(3)
    role = capture(SourcePlan("file", "x", "CAP_ANY", False), cap, frames, metrics, max_frames=7, loop=True)
    got = []
    thread = threading.Thread(target=role.run)
    thread.start()
    while len(got) < 7:
        item = frames.get(timeout=5)
        assert item is not None
        got.append(item)
    thread.join(5)
    assert metrics.snapshot()["dropped"] == 0 and cap.rewinds == 2
    assert all(a[0] <= b[0] for a, b in zip(got, got[1:]))  # capture times in order


def test_a_live_source_that_stops_raises_for_the_watchdog():
    metrics = DaemonMetrics()
    role = capture(SourcePlan("stream", "rtsp://x", "CAP_FFMPEG", True), FakeCapture(1), FrameQueue(4, True, metrics),
                   metrics)
    with pytest.raises(OSError, match="stopped delivering"):
        role.run()


class FakeClient:
    def __init__(self, statuses):
        self.statuses, self.calls = list(statuses), []

    def post_frame(self, seq, capture_us, data):
        self.calls.append(seq)
        status = self.statuses.pop(0)
        if status == 0:
            raise OSError("connection refused")
        return status, "message"

    def close(self):
        pass


def test_uploader_retries_transient_failures_and_drops_only_rejected_frames(tmp_path, tiny_ckpt):
    ecb = codec.encode(from_checkpoint(tiny_ckpt), np.full((16, 16, 3), 128, np.uint8), 50)
    spool, metrics = Spool(tmp_path, 1 << 20), DaemonMetrics()
    for seq in range(3):
        spool.put(seq, seq, ecb)
    client = FakeClient([0, 503, 401, 201, 409, 200])
    Uploader(spool, client, metrics, Backoff(0.001, 0.01), lambda: len(spool) == 0, threading.Event()).run()
    assert client.calls == [0, 0, 0, 0, 1, 2]
    counts = metrics.snapshot()
    assert (counts["uploaded"], counts["rejected"], counts["upload_errors"]) == (2, 1, 3)
    assert len(spool) == 0


def test_backoff_grows_to_its_cap_with_jitter_and_resets():
    low, high = Backoff(1.0, 8.0, rng=lambda: 0.0), Backoff(1.0, 8.0, rng=lambda: 0.999999)
    assert [round(low.next_delay(), 3) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [round(high.next_delay(), 3) for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    low.reset()
    assert low.next_delay() == 0.5


def test_watchdog_restarts_a_crashed_role_a_limited_number_of_times():
    runs = []

    def flaky():
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("camera unplugged")

    dog = Watchdog(max_restarts=2, base_delay=0.001)
    dog.start("capture", flaky)
    deadline = time.monotonic() + 5
    while not dog.done("capture") and time.monotonic() < deadline:
        dog.check()
        time.sleep(0.005)
    assert len(runs) == 3 and dog.health()["roles"]["capture"]["restarts"] == 2

    def broken():
        raise RuntimeError("no")

    dog = Watchdog(max_restarts=1, base_delay=0.001)
    dog.start("encode", broken)
    with pytest.raises(GaveUp, match="encode crashed 2 times"):
        while time.monotonic() < deadline:
            dog.check()
            time.sleep(0.005)
    assert dog.health()["ok"] is False


def test_bitrate_meter_averages_bits_per_second():
    meter = BitrateMeter(alpha=1.0)
    meter.add(1000, 0)
    assert meter.add(1000, 100_000) == pytest.approx(80_000)
