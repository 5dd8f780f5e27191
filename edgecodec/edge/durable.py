"""Crash-safe file primitives: write to a temporary file, fsync, rename, fsync the directory.

Only regular files (or links, which a rename replaces, never their targets) are replaced: a device
node or FIFO at a path is refused, never renamed over."""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

TEMP_PREFIX = ".tmp-"


def fsync_dir(path: str | Path) -> None:
    """Make a rename or unlink inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """mkdir -p, fsyncing each parent whose entry was created."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        fsync_dir(d.parent)


def write_durable(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` so that after a power cut the file is either absent or complete.
    Concurrent writers of one path each use their own temporary file; the last rename wins.
    Raises FileExistsError when ``path`` is a device, FIFO, socket or folder."""
    _check_replaceable(path)
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.{os.getpid()}.{secrets.token_hex(6)}")  # one per writer
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _check_replaceable(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise FileExistsError(f"{path} exists and is not a regular file: not replaced")


def remove_durable(path: Path) -> bool:
    """Unlink and fsync the directory; False if it was already gone."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


def clean_temp_files(folder: Path) -> int:
    """Remove leftovers of interrupted writes; returns how many."""
    count = 0
    for p in folder.glob(f"{TEMP_PREFIX}*"):
        p.unlink(missing_ok=True)
        count += 1
    if count:
        fsync_dir(folder)
    return count
