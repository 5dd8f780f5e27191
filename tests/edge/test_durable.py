"""write_durable: a power cut leaves the file absent or complete; a FIFO or device at the path is never replaced."""
from __future__ import annotations

import os
import stat

import pytest

from edgecodec.edge.durable import write_durable


def test_replaces_a_regular_file_and_a_link_not_its_target(tmp_path):
    target, link = tmp_path / "target", tmp_path / "state"
    target.write_bytes(b"target")
    link.symlink_to(target)
    write_durable(link, b"new")
    assert not link.is_symlink() and link.read_bytes() == b"new" and target.read_bytes() == b"target"
    write_durable(link, b"newer")
    assert link.read_bytes() == b"newer"


def test_a_fifo_or_folder_at_the_path_is_refused_untouched(tmp_path):
    fifo, folder = tmp_path / "state", tmp_path / "folder"
    os.mkfifo(fifo)
    folder.mkdir()
    for path in (fifo, folder):
        with pytest.raises(FileExistsError, match="not a regular file"):
            write_durable(path, b"data")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and folder.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "state"], "a temporary file was left"
