"""The frames on disk: content-addressed .ecb files and their PNG decodes, written durably.

A frame's file name carries its sequence number and the start of its SHA-256, so two
different uploads of one (device, seq) can never overwrite each other, even on two ingest
nodes at once; the index decides which one is the frame.
"""
from __future__ import annotations

from pathlib import Path

from ..edge.durable import make_dirs, remove_durable, write_durable
from ..edge.protocol import check_device_id

SHARD = 10000  # frames per directory


class FrameStore:
    """``root/frames/<device>/<seq // 10000>/<seq>.<sha16>.ecb`` and ``root/png/...`` beside it."""

    def __init__(self, root: Path):
        self.root = Path(root)
        make_dirs(self.root / "frames")
        make_dirs(self.root / "png")

    @staticmethod
    def relative_path(device_id: str, seq: int, sha256: str) -> str:
        check_device_id(device_id)  # never a path outside the data directory
        return f"frames/{device_id}/{seq // SHARD}/{seq}.{sha256[:16]}.ecb"

    def write(self, device_id: str, seq: int, sha256: str, data: bytes) -> str:
        """Store durably (file and new directories fsync'd); returns the path relative to the root."""
        rel = self.relative_path(device_id, seq, sha256)
        path = self.root / rel
        make_dirs(path.parent)
        write_durable(path, data)
        return rel

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def remove(self, rel: str) -> None:
        remove_durable(self.root / rel)

    def ecb_file(self, rel: str) -> Path:
        return self.root / rel

    def png_file(self, rel: str) -> Path:
        """Where the decode of the frame at ``rel`` is cached."""
        return (self.root / "png" / rel.removeprefix("frames/")).with_suffix(".png")
