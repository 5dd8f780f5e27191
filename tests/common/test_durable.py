"""The crash-safe writer: a power cut leaves the file absent or complete; state files never replace a FIFO or
device, user outputs are written through links and in place for FIFOs (tests/test_imageio.py)."""
from __future__ import annotations

import os
import stat

import pytest

from edgecodec.common.durable import TEMP_PREFIX, clean_temp_files, write_durable, write_durable_with


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


@pytest.mark.parametrize("follow", [False, True])
def test_the_file_then_its_folder_are_fsynced_after_the_rename(tmp_path, monkeypatch, follow):
    synced, real_fsync = [], os.fsync

    def fsync(fd: int) -> None:
        synced.append((stat.S_ISDIR(os.fstat(fd).st_mode), os.path.exists(tmp_path / "out")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_durable(tmp_path / "out", b"data", follow=follow)
    assert synced == [(False, False), (True, True)], "file before the rename, then the folder after it"


def test_a_failing_writer_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"old")

    def half(f) -> None:
        f.write(b"partial")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        write_durable_with(path, half, follow=True)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_leftover_temporary_files_are_cleaned(tmp_path):
    (tmp_path / f"{TEMP_PREFIX}frame.1.abc").write_bytes(b"partial")
    (tmp_path / "frame").write_bytes(b"kept")
    assert clean_temp_files(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["frame"]
