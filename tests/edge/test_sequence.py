"""Sequence numbers are never reused, across clean restarts and crashes."""
from __future__ import annotations

import pytest

from edgecodec.edge.sequence import STATE_FILE, SequenceAllocator


def test_numbers_continue_after_a_crash_without_reuse(tmp_path):
    first = SequenceAllocator(tmp_path, block=10)
    used = [first.next() for _ in range(13)]
    assert used == list(range(13))
    assert (tmp_path / STATE_FILE).read_text().strip() == "20"  # two blocks reserved
    second = SequenceAllocator(tmp_path, block=10)  # the first one "crashed": no shutdown
    later = [second.next() for _ in range(3)]
    assert later == [20, 21, 22] and not set(later) & set(used)


def test_state_is_written_only_once_per_block(tmp_path):
    seqs = SequenceAllocator(tmp_path, block=100)
    seqs.next()
    mtime = (tmp_path / STATE_FILE).stat().st_mtime_ns
    for _ in range(99):
        seqs.next()
    assert (tmp_path / STATE_FILE).stat().st_mtime_ns == mtime
    seqs.next()
    assert (tmp_path / STATE_FILE).read_text().strip() == "200"


def test_a_corrupt_state_file_refuses_to_start(tmp_path):
    (tmp_path / STATE_FILE).write_text("12x")
    with pytest.raises(ValueError, match="refusing"):
        SequenceAllocator(tmp_path)
