"""calibration/run-on-site.sh: shellcheck-clean; --dry-run runs `edgecodec calibrate` on the configuration's
source (a profile's preset too) with the site's budget and frame rate, and refuses an existing output folder."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "calibration" / "run-on-site.sh"
EDGECODEC = Path(sys.executable).parent / "edgecodec"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGECODEC": str(EDGECODEC)}
    return subprocess.run(["bash", str(SCRIPT), "--dry-run", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_dry_run_calibrates_the_configured_source(tmp_path):
    config = tmp_path / "device.toml"
    config.write_text('source = "rtsp://cam.local/live?a=\\"b\\""\nfps = 5\n')
    result = _run("--config", str(config), "--budget-kbps", "500", "--fps", "5", "--out", str(tmp_path / "calib"),
                  "--", "--frames", "40")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"+ {EDGECODEC} calibrate --source rtsp://cam.local/live?a=\"b\" --out "
                                          f"{tmp_path / 'calib'} --budget-kbps 500 --fps 5 --adapt --frames 40"]
    assert not (tmp_path / "calib").exists()


def test_a_profile_gives_its_presets_source(tmp_path):
    result = _run("--config", str(ROOT / "devices" / "x86-dev.toml"), "--budget-kbps", "200", "--fps", "2",
                  "--out", str(tmp_path / "calib"), "--no-adapt")
    assert result.returncode == 0, result.stderr
    assert "calibrate --source " in result.stdout and "--adapt" not in result.stdout


@pytest.mark.parametrize("args, error", [(("--fps", "5"), "--budget-kbps and --fps are required"),
                                         (("--budget-kbps", "5", "--fps", "1", "--out", "."), "exists"),
                                         (("--budget-kbps", "5", "--fps", "1", "--config", "/nonexistent"),
                                          "cannot read /nonexistent")])
def test_refusals_are_one_error_line(tmp_path, args, error):
    result = _run("--out", str(tmp_path / "calib"), *args)
    assert result.returncode == 1 and error in result.stderr.splitlines()[-1]
