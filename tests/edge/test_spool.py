"""The spool: durable FIFO, byte bound with counted oldest-first eviction, crash leftovers, validation."""
from __future__ import annotations

import errno
import os
import stat

import numpy as np
import pytest
from edge_servers import crafted_frame, crafted_stream_frame

from edgecodec.checkpoint import from_checkpoint
from edgecodec import codec
from edgecodec.edge.spool import Spool

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ecb(tiny_ckpt) -> bytes:
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    return codec.Codec(from_checkpoint(tiny_ckpt)).encode(img, 50)


def test_fifo_survives_a_restart(tmp_path, ecb):
    spool = Spool(tmp_path, 1 << 20)
    for seq in (5, 6, 7):
        assert spool.put(seq, 1000 + seq, ecb)
    frame = spool.take(0)
    assert (frame.seq, frame.capture_us) == (5, 1005)
    spool.remove(frame)
    again = Spool(tmp_path, 1 << 20)
    assert len(again) == 2 and again.total_bytes == 2 * len(ecb)
    assert again.take(0).seq == 6


def test_eviction_is_oldest_first_and_counted(tmp_path, ecb):
    evicted = []
    spool = Spool(tmp_path, 3 * len(ecb), on_evict=lambda f: evicted.append(f.seq))
    for seq in range(5):
        spool.put(seq, seq, ecb)
    assert evicted == [0, 1] and len(spool) == 3 and spool.total_bytes <= 3 * len(ecb)
    assert sorted(int(p.name[:20]) for p in tmp_path.glob("*.ecb")) == [2, 3, 4]


def test_the_frame_in_flight_is_not_evicted(tmp_path, ecb):
    evicted = []
    spool = Spool(tmp_path, 2 * len(ecb), on_evict=lambda f: evicted.append(f.seq))
    spool.put(0, 0, ecb)
    spool.put(1, 1, ecb)
    assert spool.take(0).seq == 0
    spool.put(2, 2, ecb)
    assert evicted == [1]


def test_a_frame_larger_than_the_spool_is_refused(tmp_path, ecb):
    spool = Spool(tmp_path, len(ecb) - 1)
    assert not spool.put(0, 0, ecb) and len(spool) == 0


def test_partial_writes_are_removed_and_corrupt_files_never_returned(tmp_path, ecb):
    (tmp_path / ".tmp-00000000000000000003-1.ecb.123").write_bytes(ecb[:10])
    (tmp_path / f"{1:020d}-1.ecb").write_bytes(ecb[:-1])  # truncated
    flipped = bytearray(ecb)
    flipped[50] ^= 0xFF
    (tmp_path / f"{2:020d}-2.ecb").write_bytes(bytes(flipped))  # CRC mismatch
    (tmp_path / f"{3:020d}-3.ecb").write_bytes(ecb)
    spool = Spool(tmp_path, 1 << 20)
    assert not list(tmp_path.glob(".tmp-*"))
    good = []
    while (frame := spool.take(0)) is not None:
        data = spool.read_valid(frame)
        if data is not None:
            good.append(frame.seq)
            spool.remove(frame)
    assert good == [3] and not list(tmp_path.glob("*.ecb"))


def fake_disk(monkeypatch, folder, capacity: list[int], error: int = errno.ENOSPC) -> None:
    """os.fsync of a file fails with ``error`` while ``folder`` holds more than ``capacity[0]`` entries."""
    real = os.fsync

    def fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode) and len(list(folder.iterdir())) > capacity[0]:
            raise OSError(error, os.strerror(error))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_a_full_disk_evicts_the_oldest_then_drops_without_partial_files(tmp_path, ecb, monkeypatch, caplog):
    evicted, folder = [], tmp_path / "spool"
    spool = Spool(folder, 1 << 20, on_evict=lambda f: evicted.append(f.seq))
    capacity = [3]  # the disk holds three files
    fake_disk(monkeypatch, folder, capacity)
    assert all(spool.put(seq, seq, ecb) for seq in range(4))
    assert evicted == [0] and sorted(int(p.name[:20]) for p in folder.iterdir()) == [1, 2, 3]
    assert spool.take(0).seq == 1
    capacity[0] = 0  # now full whatever is evicted: the frame in flight stays, the new one is dropped
    assert not spool.put(4, 4, ecb) and not spool.put(5, 5, ecb)
    assert evicted == [0, 2, 3] and [p.name for p in folder.iterdir()] == [f"{1:020d}-1.ecb"]
    assert len(spool) == 1 and spool.total_bytes == len(ecb)
    warnings = [r.getMessage() for r in caplog.records if "disk full" in r.getMessage()]
    assert len(warnings) == 1 and str(folder) in warnings[0]


def test_a_read_only_spool_is_refused_at_start_and_a_full_one_accepted(tmp_path, monkeypatch):
    fake_disk(monkeypatch, tmp_path, [-1], errno.EROFS)
    with pytest.raises(OSError, match=f"spool {tmp_path} is not writable: Read-only file system"):
        Spool(tmp_path, 1 << 20)
    assert not list(tmp_path.iterdir())
    monkeypatch.undo()
    fake_disk(monkeypatch, tmp_path, [-1], errno.ENOSPC)
    assert len(Spool(tmp_path, 1 << 20)) == 0


def test_spooled_frames_are_checked_against_the_configured_pixel_limit(tmp_path):
    """8192x8192, which profiles allow, passes a spool given that limit; a larger frame does not."""
    spool = Spool(tmp_path, 1 << 20, max_pixels=8192 * 8192)
    big, bigger = crafted_frame(8192, 8192), crafted_frame(8192, 8194)
    assert spool.put(0, 0, big) and spool.put(1, 1, bigger)
    first = spool.take(0)
    assert spool.read_valid(first) == big
    spool.remove(first)
    assert spool.read_valid(spool.take(0)) is None and len(spool) == 0


def put_stream(spool: Spool, plan: str, start: int = 0) -> None:
    """Spool frames by plan letter: K a key frame, d a delta frame against the last K, c one against the
    frame before it (a chain)."""
    key = None
    for seq, kind in enumerate(plan, start):
        key = seq if kind == "K" else key
        ref = {"K": None, "d": key, "c": seq - 1}[kind]
        assert spool.put(seq, seq, crafted_stream_frame(seq, ref))


def groups(spool: Spool) -> dict[int, int]:
    """Every spooled frame's group, by sequence number (uploading them all)."""
    found = {}
    while (frame := spool.take(0)) is not None:
        found[frame.seq] = frame.group
        spool.remove(frame)
    return found


def test_eviction_takes_the_oldest_group_whole_so_no_delta_frame_outlives_its_key(tmp_path, caplog):
    evicted = []
    frame_size = len(crafted_stream_frame(1, 0))
    spool = Spool(tmp_path, 6 * frame_size, on_evict=lambda f: evicted.append(f.seq))
    put_stream(spool, "KdddKd")
    assert evicted == []
    put_stream(spool, "d", start=6)  # one over the bound: the whole first group goes, not just frame 0
    assert evicted == [0, 1, 2, 3] and len(spool) == 3
    assert "spool full (%d bytes): evicted the group of key frame 0 (4 frame(s), 0..3)" % (6 * frame_size) in [
        r.getMessage() for r in caplog.records]


def test_the_frame_in_flight_stays_while_the_rest_of_its_group_goes(tmp_path):
    evicted = []
    frame_size = len(crafted_stream_frame(1, 0))
    spool = Spool(tmp_path, 4 * frame_size, on_evict=lambda f: evicted.append(f.seq))
    put_stream(spool, "Kddd")
    assert spool.take(0).seq == 0  # the key frame is being uploaded
    put_stream(spool, "K", start=4)
    assert evicted == [1, 2, 3]
    spool.remove(spool.take(0))
    assert spool.take(0).seq == 4


def test_groups_are_read_back_from_the_frame_headers_after_a_restart(tmp_path):
    frame_size = len(crafted_stream_frame(1, 0))
    put_stream(Spool(tmp_path, 1 << 20), "KddKd")
    evicted = []
    again = Spool(tmp_path, 5 * frame_size, on_evict=lambda f: evicted.append(f.seq))
    assert [again.take(0).group] == [0]
    again.release(again.take(0))
    put_stream(again, "K", start=5)
    assert evicted == [0, 1, 2]


def test_a_chained_stream_is_one_group_per_key_frame_also_after_a_restart(tmp_path):
    put_stream(Spool(tmp_path / "a", 1 << 20), "KccdcKcc")  # d3 references K0 again: a new chain
    rescanned = Spool(tmp_path / "a", 1 << 20)  # the rescan reads references before their delta frames
    assert groups(rescanned) == {**dict.fromkeys(range(5), 0), **dict.fromkeys(range(5, 8), 5)}
    spool = Spool(tmp_path / "b", 1 << 20)
    put_stream(spool, "Kc")
    assert groups(spool) == {0: 0, 1: 0}  # uploaded ...
    put_stream(spool, "cc", start=2)  # ... yet c2 references c1, the last frame put
    assert groups(spool) == {2: 0, 3: 0}


def test_after_a_restart_a_delta_frame_whose_reference_was_uploaded_heads_its_own_group(tmp_path):
    spool = Spool(tmp_path, 1 << 20)
    put_stream(spool, "Kccc")
    for _ in range(2):
        spool.remove(spool.take(0))
    assert groups(Spool(tmp_path, 1 << 20)) == {2: 1, 3: 1}  # c1 is not on this device any more


def test_eviction_takes_a_chained_group_whole(tmp_path, caplog):
    evicted = []
    frame_size = len(crafted_stream_frame(1, 0))
    spool = Spool(tmp_path, 6 * frame_size, on_evict=lambda f: evicted.append(f.seq))
    put_stream(spool, "KcccKc")
    put_stream(spool, "c", start=6)  # one over the bound: K0 and its whole chain go
    assert evicted == [0, 1, 2, 3] and len(spool) == 3
    assert "spool full (%d bytes): evicted the group of key frame 0 (4 frame(s), 0..3)" % (6 * frame_size) in [
        r.getMessage() for r in caplog.records]
