"""Fixtures of the device tests: a token file and a profile writer."""
from __future__ import annotations

from pathlib import Path

import pytest
from devices_harness import dump_profile


@pytest.fixture
def token_file(tmp_path) -> Path:
    path = tmp_path / "token"
    path.write_text("ecb_not-a-real-token\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def write_profile(tmp_path):
    """write_profile(data, name) -> path of that profile's TOML file in tmp_path."""

    def write(data: dict, name: str = "profile.toml") -> Path:
        path = tmp_path / name
        path.write_text(dump_profile(data))
        return path

    return write
