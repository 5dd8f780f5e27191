"""The durable upload spool: one fsync'd file per frame, bounded in bytes, oldest group evicted first.

A frame enters through write-temp/fsync/rename/fsync-dir, so after a power cut it is either
complete or an ignored temporary file (removed at start). It leaves only when the server has
acknowledged durable storage, or when evicted to respect the size bound (counted, logged).
A full disk (ENOSPC, EDQUOT) gets the same policy: the oldest frames are evicted to make room,
and a new frame is dropped when none is left; one warning per minute at most.

Eviction takes whole groups: a key frame with the delta frames that depend on it, directly or
through a chain of delta frames (or such delta frames whose key frame already left), so no frame
leaves while a delta frame that needs it stays:

    references (chain = 2):  K10 ◄─ d11 ◄─ d12   K10 ◄─ d13   K14 ◄─ d15 ◄─ d16
    spool, by group:         K10 d11 d12 d13 | K14 d15 d16      full -> evict K10 d11 d12 d13 (oldest group)
                             ^ in flight: stays, the rest of its group goes

A delta frame's header names its reference (its key frame or the frame before it); its group is
that reference's group when the spool knows the reference (spooled, or the last frame put), else
the reference's sequence number (the frames before it were uploaded).
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from ..codec import bitstream
from ..common.durable import TEMP_PREFIX, clean_temp_files, make_dirs, remove_durable, write_durable

log = logging.getLogger("edgecodec.spool")
_NAME = re.compile(r"(\d{20})-(\d{1,19})\.ecb")
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
FULL_WARNING_INTERVAL_S = 60.0
T = TypeVar("T")


class NoRoom(Exception):
    """The disk is full and the spool has no frame left to evict."""


def check_writable(folder: Path, create: bool = False) -> None:
    """Write, fsync and remove a probe file in ``folder``; OSError naming it if that fails.

    A missing folder is created when ``create``; otherwise (``--validate-config``) nothing is
    written: its nearest existing parent must be a directory this user may create it in.
    A full disk passes: it is writable, and the spool's full policy handles it."""
    if not create and not folder.exists():
        _check_creatable(folder)
        return
    probe = folder / f"{TEMP_PREFIX}probe.{os.getpid()}"
    try:
        make_dirs(folder)
        with open(probe, "wb") as f:
            f.write(b"probe\n")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as e:
        with contextlib.suppress(OSError):
            probe.unlink()
        if e.errno not in DISK_FULL:
            raise OSError(f"spool {folder} is not writable: {e.strerror or e}") from None


def _check_creatable(folder: Path) -> None:
    parent = next(p for p in folder.parents if p.exists())
    if not parent.is_dir():
        raise OSError(f"spool {folder} is not writable: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OSError(f"spool {folder} is not writable: cannot create it in {parent}")


@dataclass(frozen=True)
class SpooledFrame:
    """One frame waiting for upload; ``group`` is its key frame's sequence number (its own for a key frame)."""

    seq: int
    capture_us: int
    path: Path
    size: int
    group: int


def frame_reference(prefix: bytes) -> int | None:
    """The sequence number a delta frame references, from its first bytes; None for a key frame (and for
    bytes that are not a valid header: read_valid removes such a file before upload)."""
    try:
        header = bitstream.peek_header(prefix)
    except bitstream.BitstreamError:
        return None
    return header.ref_seq if header.is_delta else None


def frame_name(seq: int, capture_us: int) -> str:
    """File name carrying the metadata that is not in the .ecb header."""
    return f"{seq:020d}-{capture_us}.ecb"


class Spool:
    """Thread-safe FIFO of spooled frames in ``folder`` (the encoder puts, the uploader takes)."""

    def __init__(self, folder: Path, max_bytes: int, on_evict: Callable[[SpooledFrame], None] | None = None,
                 max_pixels: int = bitstream.DEFAULT_MAX_PIXELS):
        self.folder = Path(folder)
        self.max_bytes, self.max_pixels = max_bytes, max_pixels
        self._on_evict = on_evict or (lambda frame: None)
        self._frames: OrderedDict[int, SpooledFrame] = OrderedDict()
        self._last: SpooledFrame | None = None  # the last frame put, which the next delta frame may reference
        self._bytes = 0
        self._in_flight: int | None = None
        self._cond = threading.Condition()
        self._warn_full_at = 0.0
        check_writable(self.folder, create=True)
        removed = clean_temp_files(self.folder)
        if removed:
            log.warning("removed %d partial frame file(s) of an interrupted write", removed)
        self._scan()

    def _scan(self) -> None:
        """Read back a previous run's frames in sequence order, so a reference is known before its delta frames."""
        found = sorted((int(m[1]), int(m[2]), p) for p in self.folder.glob("*.ecb") if (m := _NAME.fullmatch(p.name)))
        for seq, capture_us, p in found:
            with open(p, "rb") as f:
                prefix = f.read(bitstream.HEADER_SIZE)
            self._add(SpooledFrame(seq, capture_us, p, p.stat().st_size, self._group(seq, prefix)))
        if found:
            log.info("spool holds %d frame(s), %d bytes, from a previous run", len(found), self._bytes)

    def _group(self, seq: int, prefix: bytes) -> int:
        """Frame ``seq``'s group: its own for a key frame, its reference's for a delta frame (the reference's
        sequence number when the spool does not know it)."""
        ref = frame_reference(prefix)
        if ref is None:
            return seq
        known = self._frames.get(ref) or (self._last if self._last and self._last.seq == ref else None)
        return known.group if known else ref

    def _add(self, frame: SpooledFrame) -> None:
        self._frames[frame.seq] = frame
        self._last = frame
        self._bytes += frame.size

    def __len__(self) -> int:
        with self._cond:
            return len(self._frames)

    @property
    def total_bytes(self) -> int:
        with self._cond:
            return self._bytes

    def put(self, seq: int, capture_us: int, data: bytes) -> bool:
        """Store a frame durably, evicting the oldest ones to fit; False (dropped) if it alone exceeds
        the bound or the disk is full with nothing left to evict."""
        if len(data) > self.max_bytes:
            log.error("frame %d (%d bytes) is larger than the whole spool (%d bytes): dropped",
                      seq, len(data), self.max_bytes)
            return False
        path = self.folder / frame_name(seq, capture_us)
        with self._cond:
            self._evict_for(len(data))
        try:
            self.retry_full(lambda: write_durable(path, data))
        except NoRoom:
            return False
        with self._cond:
            self._add(SpooledFrame(seq, capture_us, path, len(data), self._group(seq, data)))
            self._cond.notify_all()
        return True

    def retry_full(self, write: Callable[[], T]) -> T:
        """Run ``write`` (of a file in the spool); while the disk is full, evict the oldest frame and retry.

        Raises NoRoom when the disk is full and no frame is left to evict."""
        while True:
            try:
                return write()
            except OSError as e:
                if e.errno not in DISK_FULL:
                    raise
                self._warn_full(e)
            with self._cond:
                if not self._evict_group(None):  # _warn_full logged it
                    raise NoRoom(str(self.folder))

    def _warn_full(self, error: OSError) -> None:
        now = time.monotonic()
        if now >= self._warn_full_at:
            self._warn_full_at = now + FULL_WARNING_INTERVAL_S
            log.warning("spool %s: disk full (%s): evicting the oldest frames, dropping new ones when none is "
                        "left (counted in edgecodec_frames_evicted and _dropped)", self.folder, error.strerror)

    def _evict_for(self, size: int) -> None:
        while self._bytes + size > self.max_bytes and self._evict_group(f"spool full ({self.max_bytes} bytes)"):
            pass

    def _evict_group(self, why: str | None) -> list[SpooledFrame]:
        """Remove the oldest group's frames but the one in flight (lock held), logging ``why`` if given;
        [] if nothing is evictable."""
        victims: list[SpooledFrame] = []
        for frame in self._frames.values():
            if victims and frame.group != victims[0].group:
                break
            if frame.seq != self._in_flight:
                victims.append(frame)
        for frame in victims:
            del self._frames[frame.seq]
            self._bytes -= frame.size
            remove_durable(frame.path)
            self._on_evict(frame)
        if victims and why:
            log.warning("%s: evicted the group of key frame %d (%d frame(s), %d..%d)", why, victims[0].group,
                        len(victims), victims[0].seq, victims[-1].seq)
        return victims

    def take(self, timeout: float) -> SpooledFrame | None:
        """The oldest frame, marked in flight (not evictable); None if none arrived within ``timeout``."""
        with self._cond:
            if not self._frames:
                self._cond.wait(timeout)
            if not self._frames:
                return None
            frame = next(iter(self._frames.values()))
            self._in_flight = frame.seq
            return frame

    def release(self, frame: SpooledFrame) -> None:
        """Upload failed: the frame stays spooled and evictable."""
        with self._cond:
            if self._in_flight == frame.seq:
                self._in_flight = None

    def remove(self, frame: SpooledFrame) -> None:
        """The server acknowledged the frame (or rejected it for good): delete it."""
        with self._cond:
            if self._in_flight == frame.seq:
                self._in_flight = None
            if self._frames.pop(frame.seq, None) is not None:
                self._bytes -= frame.size
        remove_durable(frame.path)

    def read_valid(self, frame: SpooledFrame) -> bytes | None:
        """The frame's bytes if they are a valid .ecb file (header, CRC, within ``max_pixels``); others are removed."""
        try:
            data = frame.path.read_bytes()
            bitstream.unpack(data, self.max_pixels)
            return data
        except FileNotFoundError:
            error = "file vanished"
        except bitstream.BitstreamError as e:
            error = str(e)
        log.error("spooled frame %d is invalid (%s): removed, not uploaded", frame.seq, error)
        self.remove(frame)
        return None
