"""The data directory is private to the service: footage, index and token hashes are readable by
its user and group only (directories 0750, files 0640 or stricter)."""
from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

UMASK = 0o027  # no write for the group, nothing for others


@contextmanager
def private_files() -> Iterator[None]:
    """Inside, this process creates directories 0750 and files 0640 at most (a stricter umask is kept)."""
    before = os.umask(UMASK)
    os.umask(before | UMASK)
    try:
        yield
    finally:
        os.umask(before)


def loose_permissions(data: Path) -> list[str]:
    """One message per path (the data directory and its top level) that its group may write or
    others may access; a directory closed to others hides everything deeper from them."""
    data = Path(data)
    if not data.is_dir():
        return []
    out = []
    for path in (data, *sorted(data.iterdir())):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & UMASK:
            want = "0750" if path.is_dir() else "0640"
            out.append(f"{path} is mode {mode:04o}, open to {_who(mode)}: make it {want} or stricter "
                       f"(chmod g-w,o-rwx)")
    return out


def _who(mode: int) -> str:
    return " and ".join(w for w, bits in (("group writes", 0o020), ("others", 0o007)) if mode & bits)
