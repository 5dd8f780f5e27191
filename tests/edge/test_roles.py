"""Capture, queue, upload and watchdog behaviour with fakes (no camera, no network)."""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
import time

import numpy as np
import pytest

from edgecodec.checkpoint import from_checkpoint
from edgecodec import codec
from edgecodec.edge.daemon import _supervise
from edgecodec.edge.metrics import BitrateMeter, DaemonMetrics
from edgecodec.edge.roles import Capture, Encoder, FrameQueue
from edgecodec.edge.sequence import SequenceAllocator
from edgecodec.edge.sources import SourcePlan
from edgecodec.edge.spool import Spool
from edgecodec.edge.uploader import ACK_STATES, Backoff, Reply, Uploader
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
    device_id = "cam1"

    def __init__(self, statuses):
        self.statuses, self.calls = list(statuses), []

    def post_frame(self, seq, capture_us, data):
        """The next status; a 200/201 with the ingest server's acknowledgement of the frame."""
        self.calls.append(seq)
        status = self.statuses.pop(0)
        if status == 0:
            raise OSError("connection refused")
        ack = {"status": ACK_STATES.get(status), "device_id": self.device_id, "seq": seq,
               "sha256": hashlib.sha256(data).hexdigest()}
        return Reply(status, ack, "message")

    def close(self):
        pass


def test_uploader_retries_transient_failures_and_drops_only_rejected_frames(tmp_path, tiny_ckpt):
    ecb = codec.Codec(from_checkpoint(tiny_ckpt)).encode(np.full((16, 16, 3), 128, np.uint8), 50)
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


def test_a_file_that_is_not_a_video_is_a_permanent_error_a_camera_is_retried():
    def opener(plan):
        raise OSError(f"cannot open {plan.kind} source")

    metrics = DaemonMetrics()
    frames = FrameQueue(4, True, metrics)
    for plan in (SourcePlan("file", "x", "CAP_ANY", False), SourcePlan("v4l2", 0, "CAP_V4L2", True)):
        role = Capture(plan, opener, frames, metrics, 0, None, False, threading.Event(), threading.Event())
        dog = Watchdog(max_restarts=5, base_delay=60)
        dog.start("capture", role.run)
        dog.roles["capture"].thread.join(5)
        if plan.live:
            dog.check()  # waits for its restart
            assert dog.crashed() == "role capture crashed: OSError: cannot open v4l2 source"
        else:
            with pytest.raises(GaveUp, match="^role capture failed: cannot open file source$"):
                dog.check()


def test_supervision_fails_when_a_role_is_still_down_at_the_drain_timeout():
    def broken():
        raise ValueError("Invalid header value")

    dog = Watchdog(max_restarts=5, base_delay=60)
    dog.start("upload", broken)
    done = threading.Event()
    done.set()
    with pytest.raises(GaveUp, match="role upload crashed: ValueError: Invalid header value"):
        _supervise(dog, threading.Event(), done, done, threading.Event(), 0.1)


def test_a_full_disk_drops_and_counts_frames_instead_of_crashing_the_encoder(tmp_path, monkeypatch):
    real = os.fsync

    def fsync(fd):  # the disk is full: no file can be written
        if stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    metrics, done = DaemonMetrics(), threading.Event()
    spool, seqs = Spool(tmp_path, 1 << 20), SequenceAllocator(tmp_path, block=1)
    monkeypatch.setattr(os, "fsync", fsync)
    frames = FrameQueue(4, drop=False, metrics=metrics)
    for t in range(3):
        frames.put((t, FRAME), threading.Event())
    done.set()
    Encoder(lambda rgb: b"x" * 100, frames, spool, seqs, metrics, done, threading.Event()).run()
    counts = metrics.snapshot()
    assert (counts["encoded"], counts["spooled"], counts["dropped"]) == (3, 0, 3)
    assert not list(tmp_path.iterdir())  # no partial file, not even of the sequence state


def test_a_frame_over_max_pixels_is_dropped_before_encoding(tmp_path, caplog):
    metrics, done, encoded = DaemonMetrics(), threading.Event(), []
    spool = Spool(tmp_path / "spool", 1 << 20, max_pixels=4 * 4)
    frames = FrameQueue(4, drop=False, metrics=metrics)
    for t, frame in enumerate((FRAME, np.zeros((4, 6, 3), np.uint8), np.zeros((4, 6, 3), np.uint8))):
        frames.put((t, frame), threading.Event())
    done.set()
    encode = lambda rgb: encoded.append(rgb.shape) or b"x" * 100  # noqa: E731
    Encoder(encode, frames, spool, SequenceAllocator(tmp_path, block=1), metrics, done, threading.Event()).run()
    counts = metrics.snapshot()
    assert encoded == [(4, 4, 3)] and (counts["encoded"], counts["spooled"], counts["dropped"]) == (1, 1, 2)
    assert [r.getMessage() for r in caplog.records if "max_pixels" in r.getMessage()] == [
        "frames of 6x4 are over max_pixels (16): dropped before encoding"]
