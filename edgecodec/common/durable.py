"""Crash-safe files: write a temporary file beside the path, fsync it, rename it over the path, fsync the
directory. After a power cut the file is either the old one (or absent) or complete.

State files (``follow=False``) are replaced as named: a link is replaced, never its target, and a device,
FIFO, socket or folder at the path is refused. A user's output (``follow=True``) is written through a
link to a regular file (the target replaced, the link kept), and in place when it is a device, FIFO or
socket (or a link to one), which cannot be renamed over."""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO, Callable

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


def write_durable(path: str | Path, data: bytes, *, follow: bool = False) -> None:
    """Write ``data`` at ``path`` crash-safely (see the module's docstring for ``follow``)."""
    write_durable_with(path, lambda f: f.write(data), follow=follow)


def write_durable_with(path: str | Path, write: Callable[[BinaryIO], object], *, follow: bool = False) -> None:
    """``write(file)`` fills the file at ``path`` crash-safely. Concurrent writers of one path each use their
    own temporary file; the last rename wins. Without ``follow``, FileExistsError when ``path`` is a device,
    FIFO, socket or folder; with it, IsADirectoryError for a folder."""
    target = _output_target(path) if follow else _state_target(Path(path))
    if target is None:
        with open(path, "wb") as f:
            write(f)
        return
    tmp = target.with_name(f"{TEMP_PREFIX}{target.name}.{os.getpid()}.{secrets.token_hex(6)}")  # one per writer
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def _state_target(path: Path) -> Path:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return path
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise FileExistsError(f"{path} exists and is not a regular file: not replaced")
    return path


def _output_target(path: str | Path) -> Path | None:
    """The regular file (new, or a link's target) that writing ``path`` replaces; None for an output written
    in place: a device, FIFO or socket, or a /proc/self/fd link whose name is not the file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:  # a new file, or a dangling link: create what it names
        return Path(os.path.realpath(path))
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{path}: is a directory")
    if not stat.S_ISREG(st.st_mode):
        return None
    target = Path(os.path.realpath(path))
    try:
        same = os.path.samestat(st, os.stat(target))
    except OSError:
        same = False
    return target if same else None


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
