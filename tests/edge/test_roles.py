"""Capture, queue, upload and watchdog behaviour with fakes (no camera, no network)."""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
import time
from typing import Callable

import numpy as np
import pytest
from edge_servers import crafted_stream_frame

from edgecodec.checkpoint import from_checkpoint
from edgecodec import codec
from edgecodec.codec import bitstream
from edgecodec.codec.stream import CHAIN, EncodedFrame
from edgecodec.edge.daemon import _supervise
from edgecodec.edge.metrics import DaemonMetrics
from edgecodec.edge.roles import Capture, Encoder, FrameQueue
from edgecodec.edge.sequence import SequenceAllocator
from edgecodec.edge.sources import SourcePlan
from edgecodec.edge.spool import Spool
from edgecodec.edge.uploader import ACK_STATES, Backoff, Reply, Uploader
from edgecodec.edge.watchdog import GaveUp, Watchdog

pytestmark = pytest.mark.usefixtures("one_thread")
FRAME = np.zeros((4, 4, 3), np.uint8)
KEY_BYTES, DELTA_BYTES = 400, 40


class FakeCoder:
    """A stream encoder stand-in: a key frame first and after force_key(), then delta frames in chains of at
    most ``chain``, each referencing the frame before it; a full chain and restart_chain() go back to the key
    frame. ``big``: sequence numbers whose frames are larger than any spool."""

    def __init__(self, chain: int = CHAIN, big: frozenset[int] = frozenset()) -> None:
        self.chain, self.big = chain, big
        self.key: int | None = None
        self.previous: int | None = None  # the delta frame the next one references
        self.depth = 0  # of the previous frame
        self.restarts = 0
        self.calls: list[tuple[tuple[int, ...], int, int]] = []
        self.refs: list[int | None] = []

    def force_key(self) -> None:
        self.key = self.previous = None

    def restart_chain(self) -> None:
        self.previous = None
        self.restarts += 1

    def encode(self, image: np.ndarray, seq: int) -> EncodedFrame:
        delta = self.key is not None
        ref = (self.key if self.previous is None else self.previous) if delta else None
        depth = self.depth + 1 if self.previous is not None else 1
        self.key = self.key if delta else seq
        self.previous, self.depth = (seq, depth) if delta and depth < self.chain else (None, 0)
        kind = bitstream.DELTA if delta else bitstream.KEY
        self.calls.append((image.shape, seq, kind))
        self.refs.append(ref)
        payload = 1 << 21 if seq in self.big else DELTA_BYTES if delta else KEY_BYTES
        return EncodedFrame(crafted_stream_frame(seq, ref, payload), seq, kind, 0.9 if delta else 0.0, ref)


def run_encoder(tmp_path, capture_times: list[int], key_interval_s: float = 0.0, spool: Spool | None = None,
                coder: FakeCoder | None = None) -> tuple[Encoder, FakeCoder, DaemonMetrics]:
    """Encode one frame per capture time (in us) through a real spool and allocator."""
    metrics, done, coder = DaemonMetrics(), threading.Event(), coder or FakeCoder()
    spool = spool if spool is not None else Spool(tmp_path / "spool", 1 << 20)
    frames = FrameQueue(len(capture_times) + 1, drop=False, metrics=metrics)
    for t in capture_times:
        frames.put((t, FRAME), threading.Event())
    done.set()
    encoder = Encoder(coder, frames, spool, SequenceAllocator(tmp_path, block=1), metrics, done, threading.Event(),
                      key_interval_s)
    encoder.run()
    return encoder, coder, metrics


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
    Encoder(FakeCoder(), frames, spool, seqs, metrics, done, threading.Event()).run()
    counts = metrics.snapshot()
    # the sequence state cannot be written either: each frame is dropped before it is encoded
    assert (counts["encoded"], counts["spooled"], counts["dropped"]) == (0, 0, 3)
    assert not list(tmp_path.iterdir())  # no partial file, not even of the sequence state


def test_a_frame_over_max_pixels_is_dropped_before_encoding(tmp_path, caplog):
    metrics, done = DaemonMetrics(), threading.Event()
    spool = Spool(tmp_path / "spool", 1 << 20, max_pixels=4 * 4)
    frames = FrameQueue(4, drop=False, metrics=metrics)
    for t, frame in enumerate((FRAME, np.zeros((4, 6, 3), np.uint8), np.zeros((4, 6, 3), np.uint8))):
        frames.put((t, frame), threading.Event())
    done.set()
    coder = FakeCoder()
    Encoder(coder, frames, spool, SequenceAllocator(tmp_path, block=1), metrics, done, threading.Event()).run()
    encoded = [shape for shape, _, _ in coder.calls]
    counts = metrics.snapshot()
    assert encoded == [(4, 4, 3)] and (counts["encoded"], counts["spooled"], counts["dropped"]) == (1, 1, 2)
    assert [r.getMessage() for r in caplog.records if "max_pixels" in r.getMessage()] == [
        "frames of 6x4 are over max_pixels (16): dropped before encoding"]


def kinds(coder: FakeCoder) -> str:
    return "".join("K" if kind == bitstream.KEY else "d" for _, _, kind in coder.calls)


def test_the_stream_starts_with_a_key_frame_and_codes_one_every_key_interval_of_capture_time(tmp_path):
    times = [0, 500_000, 999_999, 1_000_000, 1_500_000, 2_100_000, 1_800_000, 1_900_000]  # the clock steps back
    _, coder, metrics = run_encoder(tmp_path, times, key_interval_s=1.0)
    assert kinds(coder) == "KddKdKKd"
    counts = metrics.snapshot()
    assert (counts["encoded_key"], counts["encoded_delta"], counts["spooled"]) == (4, 4, 8)
    key_size, delta_size = (len(crafted_stream_frame(2, ref, n))
                            for ref, n in ((None, KEY_BYTES), (1, DELTA_BYTES)))
    assert (counts["encoded_bytes_key"], counts["encoded_bytes_delta"]) == (4 * key_size, 4 * delta_size)
    samples = {s.name: s.value for s in metrics.skipped.collect()[0].samples}
    assert (samples["edgecodec_delta_skipped_ratio_count"], samples["edgecodec_delta_skipped_ratio_sum"]) == (
        4, pytest.approx(4 * 0.9))


def test_without_a_key_interval_only_the_start_and_a_restarted_role_code_key_frames(tmp_path):
    encoder, coder, _ = run_encoder(tmp_path, [0, 10**9, 2 * 10**9])
    encoder.frames.put((3 * 10**9, FRAME), threading.Event())
    encoder.run()  # the watchdog restarts a crashed role: it does not trust the stream state
    assert kinds(coder) == "Kdd" + "K"


def test_a_key_frame_that_is_not_spooled_is_coded_again_so_no_delta_frame_lacks_its_key(tmp_path):
    key_size = len(crafted_stream_frame(0, None, KEY_BYTES))
    spool = Spool(tmp_path / "spool", key_size - 1)  # room for delta frames only
    _, coder, metrics = run_encoder(tmp_path, [0, 1, 2], spool=spool)
    assert kinds(coder) == "KKK" and len(spool) == 0 and metrics.snapshot()["dropped"] == 3


def run_evicting(tmp_path, make_coder: Callable[[Spool], FakeCoder], frames: int
                 ) -> tuple[FakeCoder, Spool, list[int]]:
    """Encode ``frames`` frames into a spool with room for a key frame and 3 delta frames, which tells the
    encoder what it evicts (as the daemon wires them); returns the coder, the spool and the evicted frames."""
    key_size = len(crafted_stream_frame(0, None, KEY_BYTES))
    delta_size = len(crafted_stream_frame(1, 0, DELTA_BYTES))
    evicted: list[int] = []
    holder: list[Encoder] = []

    def on_evict(frame) -> None:
        evicted.append(frame.seq)
        holder[0].reference_evicted(frame.seq)

    spool = Spool(tmp_path / "spool", key_size + 3 * delta_size, on_evict=on_evict)
    metrics, done, coder = DaemonMetrics(), threading.Event(), make_coder(spool)
    queued = FrameQueue(frames + 1, drop=False, metrics=metrics)
    holder.append(Encoder(coder, queued, spool, SequenceAllocator(tmp_path, block=1), metrics, done,
                          threading.Event()))
    for t in range(frames):
        queued.put((t, FRAME), threading.Event())
    done.set()
    holder[0].run()
    return coder, spool, evicted


def spooled_groups(spool: Spool) -> dict[int, int]:
    """Every spooled frame's group, by sequence number (taking them all)."""
    groups = {}
    while (frame := spool.take(0)) is not None:
        groups[frame.seq] = frame.group
        spool.remove(frame)
    return groups


def test_evicting_the_referenced_key_frame_makes_the_next_frame_a_key_frame(tmp_path):
    coder, spool, evicted = run_evicting(tmp_path, lambda spool: FakeCoder(), 7)
    # K0 d1 d2 d3 fill it; d4 evicts the whole group (its key with it), so frame 5 is a key frame again
    assert kinds(coder) == "KddddKd" and evicted == [0, 1, 2, 3]
    assert coder.refs == [None, 0, 1, 2, 3, None, 5]
    assert spooled_groups(spool) == {4: 0, 5: 5, 6: 5}  # d4 stays in the group of its chain's key frame


def test_delta_frames_chain_back_to_their_key_frame_in_one_spool_group(tmp_path):
    encoder, coder, _ = run_encoder(tmp_path, list(range(8)), coder=FakeCoder(chain=3))
    assert kinds(coder) == "Kddddddd" and coder.refs == [None, 0, 1, 2, 0, 4, 5, 0] and coder.restarts == 0
    assert spooled_groups(encoder.spool) == dict.fromkeys(range(8), 0)


def test_a_delta_frame_that_is_not_spooled_is_never_referenced(tmp_path):
    _, coder, metrics = run_encoder(tmp_path, list(range(5)), coder=FakeCoder(big=frozenset({2})))
    # d2 is larger than the spool: dropped, so d3 references the key frame, and d4 d3 again
    assert kinds(coder) == "Kdddd" and coder.refs == [None, 0, 1, 0, 3] and coder.restarts == 1
    counts = metrics.snapshot()
    assert (counts["spooled"], counts["dropped"]) == (4, 1)


def test_evicting_the_delta_frame_the_chain_continues_from_restarts_the_chain(tmp_path):
    class Uploading(FakeCoder):
        """Before frame 4, the uploader takes K0: it stays, the rest of its group goes to make room for d4."""

        def __init__(self, spool: Spool):
            super().__init__()
            self.spool = spool

        def encode(self, image: np.ndarray, seq: int) -> EncodedFrame:
            if seq == 4:
                assert self.spool.take(0).seq == 0
            return super().encode(image, seq)

    coder, _, evicted = run_evicting(tmp_path, Uploading, 7)
    assert evicted == [1, 2, 3] and coder.restarts == 1  # d3 was the chain's last frame: d1 and d2 were not
    assert kinds(coder) == "Kdddddd" and coder.refs == [None, 0, 1, 2, 3, 0, 5]  # d5 references the key again
