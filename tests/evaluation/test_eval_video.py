"""``edgecodec eval-video`` end to end on a small synthetic video with the tiny untrained model:
the numbers are recomputed independently (x264 rerun from its recorded command, ffprobe,
edgecodec's stream and JPEG coded again), and bad inputs fail cleanly."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
from system_tools import require

from edgecodec.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")

W, H, NATIVE_FPS, FPS, START = 128, 96, 10.0, 5.0, 1
KEPT = [1, 3, 5, 7]  # source frames: from frame 1, every 2nd (10 fps sampled at 5 fps)
ARGS = ["--fps", FPS, "--start", START, "--model", "dkic-tiny", "--qualities", 30, 70, "--crf", 40, 25,
        "--image-qualities", 30, 80]


@pytest.fixture(scope="module")
def ffmpeg_installed() -> None:
    require("ffmpeg")
    require("ffprobe", "ffmpeg")


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """8 frames of 128x96 at 10 fps: a textured background and a square moving right."""
    path = tmp_path_factory.mktemp("video") / "square.avi"
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(60, 200, (H, W, 3), dtype=np.uint8), (7, 7), 0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), NATIVE_FPS, (W, H))
    for i in range(8):
        frame = background.copy()
        frame[30:60, 8 + 12 * i:38 + 12 * i] = (40, 200, 90)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def frames(video) -> list[np.ndarray]:
    """The frames the run must have coded, read here with OpenCV alone (RGB)."""
    cap = cv2.VideoCapture(str(video))
    out = []
    while (got := cap.read())[0]:
        out.append(np.ascontiguousarray(got[1][:, :, ::-1]))
    cap.release()
    assert len(out) == 8
    return [out[i] for i in KEPT]


@pytest.fixture(scope="module")
def run(video, ffmpeg_installed, tmp_path_factory) -> tuple[Path, str, dict]:
    """One run with every codec at two settings: (output folder, stdout, results.json)."""
    out = tmp_path_factory.mktemp("eval") / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main([str(a) for a in ("eval-video", video, "--out", out, *ARGS)])
    assert rc == 0
    return out, stdout.getvalue(), json.loads((out / "results.json").read_text())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean()
    return 10 * np.log10(255.0 ** 2 / mse)


def test_writes_the_documented_files_and_consistent_numbers(run):
    out, stdout, report = run
    assert sorted(p.name for p in out.iterdir()) == ["rd_psnr.svg", "results.json"]
    assert ET.parse(out / "rd_psnr.svg").getroot().tag.endswith("svg")
    assert {"command", "conventions", "environment", "model", "video", "codecs", "bd"} <= set(report)
    assert report["command"].startswith("edgecodec eval-video ") and "ffmpeg" in report["environment"]
    assert {"bits", "psnr", "rate", "bd"} <= set(report["conventions"])
    assert report["video"]["source_frames"] == KEPT and report["video"]["fps"] == FPS
    assert list(report["codecs"]) == ["edgecodec", "edgecodec-intra", "x264-zerolatency", "x264-medium",
                                      "x264-intra", "x265-medium", "jpeg", "webp"]
    for key, result in report["codecs"].items():
        assert len(result["points"]) == 2, key
        for p in result["points"]:
            assert p["frames"] == 4 and len(p["frame_bytes"]) == 4 and len(p["frame_psnr"]) == 4
            assert p["bytes"] == sum(p["frame_bytes"]), key
            assert p["bpp"] == pytest.approx(8 * p["bytes"] / (4 * W * H))
            assert p["kbit_s"] == pytest.approx(8 * p["bytes"] / (4 / FPS) / 1000)
            assert p["psnr"] == pytest.approx(np.mean(p["frame_psnr"]))
            assert p["encode_ms"] > 0 and p["decode_ms"] > 0
    stream, intra = report["codecs"]["edgecodec"]["points"], report["codecs"]["edgecodec-intra"]["points"]
    assert all(p["key_frames"] == 4 and p["skipped_share"] is None for p in intra)
    assert all(1 <= p["key_frames"] <= 4 for p in stream)
    assert all(p["key_frames"] == 4 for p in report["codecs"]["x264-intra"]["points"])
    assert all(p["key_frames"] == 1 for p in report["codecs"]["x264-medium"]["points"])
    assert set(report["bd"]) == {"edgecodec", "edgecodec-intra"}
    assert set(report["bd"]["edgecodec"]) == set(report["codecs"]) - {"edgecodec"}
    assert {"bd_rate_psnr_pct", "bd_psnr_db", "psnr_overlap_db"} <= set(report["bd"]["edgecodec"]["jpeg"])
    assert "BD-rate of each codec against edgecodec" in stdout and "vs edgecodec intra" in stdout


def test_x264_rerun_matches_bytes_packets_and_psnr(run, frames, tmp_path):
    point = run[2]["codecs"]["x264-medium"]["points"][0]
    stream = tmp_path / "x.h264"
    argv = [str(stream) if a == "OUT.h264" else a for a in point["command"]]
    subprocess.run(argv, input=b"".join(f.tobytes() for f in frames), check=True)
    assert stream.stat().st_size == point["bytes"]
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size",
                            "-of", "json", str(stream)], capture_output=True, check=True)
    assert [int(p["size"]) for p in json.loads(probe.stdout)["packets"]] == point["frame_bytes"]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(stream), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    decoded = np.frombuffer(raw, np.uint8).reshape(-1, H, W, 3)
    assert len(decoded) == 4
    assert [psnr(a, b) for a, b in zip(frames, decoded)] == pytest.approx(point["frame_psnr"], abs=1e-9)


def test_edgecodec_stream_and_jpeg_recoded_match(run, frames):
    import imagecodecs

    from edgecodec.runtime import load_codec
    from edgecodec.codec.stream import StreamDecoder, StreamEncoder, StreamPolicy

    report = run[2]
    point = report["codecs"]["edgecodec"]["points"][1]
    codec = load_codec("dkic-tiny")
    assert codec.model_id.hex() == report["model"]["id"]
    enc, dec = StreamEncoder(codec, point["setting"], StreamPolicy(key_interval=round(60 * FPS))), StreamDecoder(codec)
    coded = [enc.encode(f) for f in frames]
    assert [len(c.data) for c in coded] == point["frame_bytes"]
    assert [psnr(f, dec.decode(c.data)) for f, c in zip(frames, coded)] == pytest.approx(point["frame_psnr"])
    jpeg = report["codecs"]["jpeg"]["points"][0]
    data = [imagecodecs.jpeg8_encode(f, level=int(jpeg["setting"])) for f in frames]
    assert [len(d) for d in data] == jpeg["frame_bytes"]
    assert [psnr(f, imagecodecs.jpeg8_decode(d)) for f, d in zip(frames, data)] == pytest.approx(jpeg["frame_psnr"])


@pytest.mark.parametrize("case, extra, match", [
    ("missing", [], "does not exist"),
    ("zero_fps", ["--fps", "0"], "--fps must be positive"),
    ("negative_fps", ["--fps=-2"], "--fps must be positive"),
    ("no_frames", ["--start", "50"], "no frames"),
    ("no_ffmpeg", [], "Debian package ffmpeg"),
    ("bad_crf", ["--crf", "60"], "CRF must be within"),
    ("out_is_file", [], "not a folder"),
])
def test_bad_input_is_one_error_line(cli, video, ffmpeg_installed, tmp_path, monkeypatch, case, extra, match):
    out = tmp_path / "out"
    source = tmp_path / "nope.avi" if case == "missing" else video
    if case == "no_ffmpeg":
        empty = tmp_path / "bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
    if case == "out_is_file":
        out.write_text("x")
    res = cli("eval-video", source, "--out", out, "--model", "dkic-tiny", "--codecs", "x264-medium", *extra)
    assert res.rc != 0
    assert len(res.err_lines) == 1 and res.err_lines[0].startswith("edgecodec: error:"), res.err
    assert match in res.err
    assert out.is_file() if case == "out_is_file" else not out.exists()
