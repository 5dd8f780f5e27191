"""The frames on disk: content-addressed .ecb files and their PNG decodes, written durably.

A frame's file name carries its sequence number and the start of its SHA-256, so two
different uploads of one (device, seq) can never overwrite each other, even on two ingest
nodes at once; the index decides which one is the frame. Paths are derived from (device,
seq, hash), and a path that would lead outside ``frames/`` or ``png/`` is refused.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..common.durable import make_dirs, remove_durable, write_durable
from ..common.protocol import MAX_SEQ, check_device_id

SHARD = 10000  # frames per directory
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _confined(folder: Path, rel: str) -> Path:
    """``folder/rel``, or ValueError when it would lie outside ``folder`` (``..``, an absolute path)."""
    base = os.path.abspath(folder)
    path = os.path.abspath(os.path.join(base, rel))
    if os.path.commonpath([base, path]) != base or path == base:
        raise ValueError(f"path {rel[:100]!r} lies outside {base}")
    return Path(path)


class FrameStore:
    """``root/frames/<device>/<seq // 10000>/<seq>.<sha16>.ecb`` and ``root/png/...`` beside it."""

    def __init__(self, root: Path):
        self.root = Path(root)
        make_dirs(self.root / "frames")
        make_dirs(self.root / "png")

    @staticmethod
    def relative_path(device_id: str, seq: int, sha256: str) -> str:
        """The one place a frame's path comes from; ValueError unless all three are well-formed."""
        check_device_id(device_id)  # never a path outside the data directory
        if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
            raise ValueError(f"invalid sequence number {str(seq)[:32]!r}")
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise ValueError(f"invalid SHA-256 {str(sha256)[:80]!r}: expected 64 lowercase hex digits")
        return f"frames/{device_id}/{seq // SHARD}/{seq}.{sha256[:16]}.ecb"

    def write(self, device_id: str, seq: int, sha256: str, data: bytes) -> str:
        """Store durably (file and new directories fsync'd); returns the path relative to the root."""
        rel = self.relative_path(device_id, seq, sha256)
        path = self.ecb_file(rel)
        make_dirs(path.parent)
        write_durable(path, data)
        return rel

    def read(self, rel: str) -> bytes:
        return self.ecb_file(rel).read_bytes()

    def remove(self, rel: str) -> None:
        remove_durable(self.ecb_file(rel))

    def ecb_file(self, rel: str) -> Path:
        """The stored bitstream ``rel`` (``frames/...``); ValueError outside ``root/frames``."""
        return _confined(self.root / "frames", rel.removeprefix("frames/"))

    def png_file(self, rel: str) -> Path:
        """Where the decode of the frame at ``rel`` is cached; ValueError outside ``root/png``."""
        return _confined(self.root / "png", rel.removeprefix("frames/")).with_suffix(".png")
