"""The durable upload spool: one fsync'd file per frame, bounded in bytes, oldest evicted first.

A frame enters through write-temp/fsync/rename/fsync-dir, so after a power cut it is either
complete or an ignored temporary file (removed at start). It leaves only when the server has
acknowledged durable storage, or when evicted to respect the size bound (counted, logged).
"""
from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..codec import bitstream
from .durable import clean_temp_files, make_dirs, remove_durable, write_durable

log = logging.getLogger("edgecodec.spool")
_NAME = re.compile(r"(\d{20})-(\d{1,19})\.ecb")


@dataclass(frozen=True)
class SpooledFrame:
    """One frame waiting for upload."""

    seq: int
    capture_us: int
    path: Path
    size: int


def frame_name(seq: int, capture_us: int) -> str:
    """File name carrying the metadata that is not in the .ecb header."""
    return f"{seq:020d}-{capture_us}.ecb"


class Spool:
    """Thread-safe FIFO of spooled frames in ``folder`` (the encoder puts, the uploader takes)."""

    def __init__(self, folder: Path, max_bytes: int, on_evict: Callable[[SpooledFrame], None] | None = None):
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._on_evict = on_evict or (lambda frame: None)
        self._frames: OrderedDict[int, SpooledFrame] = OrderedDict()
        self._bytes = 0
        self._in_flight: int | None = None
        self._cond = threading.Condition()
        make_dirs(self.folder)
        removed = clean_temp_files(self.folder)
        if removed:
            log.warning("removed %d partial frame file(s) of an interrupted write", removed)
        self._scan()

    def _scan(self) -> None:
        found = []
        for p in self.folder.glob("*.ecb"):
            m = _NAME.fullmatch(p.name)
            if m:
                found.append(SpooledFrame(int(m[1]), int(m[2]), p, p.stat().st_size))
        for frame in sorted(found, key=lambda f: f.seq):
            self._frames[frame.seq] = frame
            self._bytes += frame.size
        if found:
            log.info("spool holds %d frame(s), %d bytes, from a previous run", len(found), self._bytes)

    def __len__(self) -> int:
        with self._cond:
            return len(self._frames)

    @property
    def total_bytes(self) -> int:
        with self._cond:
            return self._bytes

    def put(self, seq: int, capture_us: int, data: bytes) -> bool:
        """Store a frame durably, evicting the oldest ones to fit; False if it alone exceeds the bound."""
        if len(data) > self.max_bytes:
            log.error("frame %d (%d bytes) is larger than the whole spool (%d bytes): dropped",
                      seq, len(data), self.max_bytes)
            return False
        path = self.folder / frame_name(seq, capture_us)
        with self._cond:
            self._evict_for(len(data))
        write_durable(path, data)
        with self._cond:
            self._frames[seq] = SpooledFrame(seq, capture_us, path, len(data))
            self._bytes += len(data)
            self._cond.notify_all()
        return True

    def _evict_for(self, size: int) -> None:
        for seq in list(self._frames):
            if self._bytes + size <= self.max_bytes:
                return
            if seq == self._in_flight:
                continue
            frame = self._frames.pop(seq)
            self._bytes -= frame.size
            remove_durable(frame.path)
            log.warning("spool full (%d bytes): evicted frame %d", self.max_bytes, seq)
            self._on_evict(frame)

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
        """The frame's bytes if they are a valid .ecb file (header and CRC); a corrupt file is removed."""
        try:
            data = frame.path.read_bytes()
            bitstream.read_header(data)
            bitstream.unpack(data)
            return data
        except FileNotFoundError:
            error = "file vanished"
        except bitstream.BitstreamError as e:
            error = str(e)
        log.error("spooled frame %d is invalid (%s): removed, not uploaded", frame.seq, error)
        self.remove(frame)
        return None
