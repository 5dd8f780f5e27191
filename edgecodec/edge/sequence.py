"""Frame sequence numbers that are never reused, across restarts, crashes and power cuts.

The state file holds a high-water mark: every number below it may have been used. Numbers
are handed out from blocks reserved ahead of use; reserving a block writes the new mark
durably first. A crash wastes the rest of the block (a gap), never a reuse.
"""
from __future__ import annotations

import threading
from pathlib import Path

from ..common.durable import write_durable

STATE_FILE = "sequence.state"


class SequenceAllocator:
    """Thread-safe allocator backed by ``folder/sequence.state``."""

    def __init__(self, folder: Path, block: int = 1000):
        if block < 1:
            raise ValueError("sequence block must be >= 1")
        self.path = Path(folder) / STATE_FILE
        self.block = block
        self._lock = threading.Lock()
        self._next = self._read_mark()
        self._reserved = self._next

    def _read_mark(self) -> int:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        if not text.isdigit():
            raise ValueError(f"{self.path}: corrupt sequence state {text[:40]!r}; refusing to risk reusing "
                             f"sequence numbers (fix the file or use a new device id)")
        return int(text)

    def next(self) -> int:
        """The next unused sequence number."""
        with self._lock:
            if self._next >= self._reserved:
                mark = self._next + self.block
                write_durable(self.path, f"{mark}\n".encode())
                self._reserved = mark
            seq = self._next
            self._next += 1
            return seq
