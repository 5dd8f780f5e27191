"""Unreadable camera sources, through the real entry point: one error line of ours, no FFmpeg log lines."""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest


def edgecodec(*argv: str | Path) -> subprocess.CompletedProcess:
    """A fresh process: OpenCV's FFmpeg backend initialises in it as in the field."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("EDGECODEC_DEBUG", "OPENCV_FFMPEG_LOGLEVEL")}
    return subprocess.run([sys.executable, "-m", "edgecodec", *map(str, argv)], capture_output=True, text=True,
                          timeout=300, env=dict(env, OMP_NUM_THREADS="1"))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sources(tmp_path) -> dict[str, str]:
    (tmp_path / "text.png").write_bytes(b"hello\n")
    box = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"
    (tmp_path / "nomoov.mp4").write_bytes(box + struct.pack(">I", 3000) + b"mdat" + bytes(2992))
    return {"text": str(tmp_path / "text.png"), "nomoov": str(tmp_path / "nomoov.mp4"),
            "refused": f"rtsp://127.0.0.1:{closed_port()}/x"}


@pytest.mark.parametrize("which,needle", [
    ("text", "cannot decode a frame of"),  # FFmpeg opens it as an image, then no frame decodes
    ("nomoov", "cannot open file source"),  # FFmpeg's "moov atom not found" line
    ("refused", "cannot open stream source"),  # FFmpeg's "Connection refused" line
])
def test_calibrate_on_an_unreadable_source_prints_one_line(sources, tmp_path, which, needle):
    res = edgecodec("calibrate", "--source", sources[which], "--out", tmp_path / "out", "--frames", "2",
                    "--budget-kbps", "100", "--fps", "1", "--interval", "0", "--capture-timeout", "5")
    assert res.returncode == 1 and res.stderr.splitlines() == [res.stderr.strip()], res.stderr
    assert res.stderr.startswith("edgecodec: error: ") and needle in res.stderr, res.stderr
    assert not (tmp_path / "out").exists()


def test_doctor_on_an_unreadable_file_prints_its_verdict_only(sources):
    res = edgecodec("doctor", "--source", sources["text"], "--camera-timeout", "20")
    assert res.returncode == 1 and res.stderr == "edgecodec: error: doctor: 1 check(s) failed: camera\n", res.stderr
    assert "FAIL  camera    file source" in res.stdout and "is it a video OpenCV can read?" in res.stdout
