"""The Debian tools some tests run for real (installed by `make system-deps`): a missing one fails the
test with what to install, never skips it."""
from __future__ import annotations

import shutil

import pytest


def require(tool: str, package: str | None = None) -> str:
    """The path of ``tool``; the calling test fails naming the Debian package when it is missing."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: run `make system-deps` (Debian package {package or tool})")
    return path
