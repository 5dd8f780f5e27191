"""Stored files are checked when they are served: a bitstream against the SHA-256 the index holds,
a cached PNG by its chunk checksums (a damaged cache entry is removed and decoded again)."""
from __future__ import annotations

import hashlib
import logging
import struct
import zlib

from .auth import Refused
from .records import FrameRecord
from .storage import FrameStore

log = logging.getLogger("edgecodec.server")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def verified_ecb(store: FrameStore, rec: FrameRecord) -> bytes:
    """The stored bitstream if it still is the uploaded one; else Refused 503 (logged: the operator must
    restore the file from a backup)."""
    try:
        data = store.read(rec.path)
    except (OSError, ValueError) as e:
        problem = f"cannot be read ({getattr(e, 'strerror', None) or e})"
    else:
        if hashlib.sha256(data).hexdigest() == rec.sha256:
            return data
        problem = "no longer holds the uploaded bytes (SHA-256 mismatch)"
    log.error("frame %s/%d: the stored file %s %s", rec.device_id, rec.seq, rec.path, problem)
    raise Refused(503, "frame_unavailable", f"the stored frame {problem}; try again later")


def png_intact(data: bytes) -> bool:
    """A whole PNG stream: the signature, every chunk's CRC-32, and IEND at the end."""
    if not data.startswith(PNG_SIGNATURE):
        return False
    view, pos = memoryview(data), len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data) or zlib.crc32(view[pos + 4:end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            return False
        if kind == b"IEND":
            return end == len(data)
        pos = end
    return False


def drop_damaged_png(store: FrameStore, rec: FrameRecord) -> Refused:
    """Remove a damaged cached decode (the next request decodes again); the 503 to answer now."""
    log.error("frame %s/%d: the cached PNG was damaged: removed", rec.device_id, rec.seq)
    store.png_file(rec.path).unlink(missing_ok=True)
    return Refused(503, "decode_unavailable", "the cached decode was damaged and is removed; try again")
