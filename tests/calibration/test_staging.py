"""Outputs appear all at once, or not at all."""
from __future__ import annotations

import pytest

from edgecodec.calibration.staging import Staging


def test_success_publishes_and_replaces_an_earlier_run(tmp_path):
    out = tmp_path / "cal"
    (out / "frames").mkdir(parents=True)
    (out / "frames" / "old.png").write_text("old")
    (out / "keep.txt").write_text("mine")
    (out / "adapted.pt").write_text("from an earlier run")
    with Staging(out, owned=("adapted.pt", "frames")) as stage:
        (stage / "frames").mkdir()
        (stage / "frames" / "new.png").write_text("new")
        (stage / "device.toml").write_text("quality = 1.0\n")
    assert sorted(p.name for p in out.iterdir()) == ["device.toml", "frames", "keep.txt"]
    assert [p.name for p in (out / "frames").iterdir()] == ["new.png"]


def test_failure_leaves_nothing(tmp_path):
    out = tmp_path / "cal"
    with pytest.raises(RuntimeError):
        with Staging(out) as stage:
            (stage / "device.toml").write_text("half")
            raise RuntimeError("step failed")
    assert not out.exists()
    out.mkdir()
    with pytest.raises(RuntimeError):
        with Staging(out) as stage:
            (stage / "device.toml").write_text("half")
            raise RuntimeError("step failed")
    assert out.is_dir() and not any(out.iterdir())


def test_an_unwritable_output_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        with Staging(tmp_path / "file" / "cal"):
            pass
    with pytest.raises(NotADirectoryError):
        with Staging(tmp_path / "file"):
            pass
