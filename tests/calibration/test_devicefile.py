"""device.toml holds daemon fields only, and the daemon accepts it."""
from __future__ import annotations

import sys

import pytest

from edgecodec.calibration.devicefile import device_toml
from edgecodec.edge.config import DaemonConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_the_daemon_accepts_the_file_once_the_site_fields_are_added(tmp_path):
    text = device_toml({"source": 'C:\\cam "1"', "fps": 10.0, "quality": 42.5, "chain": 3, "model": None}, "now")
    settings = tomllib.loads(text)
    assert settings == {"source": 'C:\\cam "1"', "fps": 10.0, "quality": 42.5, "chain": 3}
    (tmp_path / "token").write_text("t")
    site = {"server": "https://nvr.example", "device_id": "gate-1", "token_file": str(tmp_path / "token"),
            "spool": str(tmp_path / "spool")}
    config = DaemonConfig.model_validate(settings | site)
    assert (config.quality, config.fps, config.chain) == (42.5, 10.0, 3)


def test_unknown_settings_are_refused():
    with pytest.raises(ValueError, match="bitrate"):
        device_toml({"quality": 50.0, "bitrate": 200}, "now")
