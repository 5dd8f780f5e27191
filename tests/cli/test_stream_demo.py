"""run_stream_demo: the whole loop on a few frames of a small generated video, and its comparisons."""
from __future__ import annotations

import numpy as np
import pytest

from edgecodec.cli.demo_baselines import jpeg_size_at_psnr, x264_at_psnr
from edgecodec.cli.stream_demo import _make_video, run_stream_demo
from system_tools import require

pytestmark = pytest.mark.usefixtures("one_thread")


def test_demo_streams_key_and_delta_frames_measures_and_compares(tmp_path, tiny_ckpt, capsys):
    require("ffmpeg")
    video = _make_video(tmp_path / "clip.avi", 5, 192, 128)
    summary = run_stream_demo(frames=4, model=tiny_ckpt, source=str(video))
    out = capsys.readouterr().out
    assert summary["frames_stored"] == 4 and summary["daemon"]["uploaded"] == 4
    assert summary["key_frames"] >= 1 and summary["key_frames"] + summary["delta_frames"] == 4
    assert summary["kbit_s"] == pytest.approx(summary["mean_bpp"] * 192 * 128 * 10 / 1000)
    assert 0 < summary["mean_psnr_db"] < 100 and summary["intra_kbit_s"] > 0 and summary["jpeg_kbit_s"] > 0
    assert f"({summary['key_frames']} key, {summary['delta_frames']} delta)" in out
    assert "edgecodec intra (every frame a key frame, quality 50)" in out and "JPEG at the same PSNR" in out
    assert summary["x264"]["kbit_s"] > 0 and "x264 veryfast zerolatency g=20 at the same PSNR" in out
    assert "frames stored: 4 of 4" in out and "#token=ecb_" in out


def test_x264_is_searched_to_the_target_psnr():
    require("ffmpeg")
    yy, xx = np.mgrid[0:64, 0:96]
    scene = np.stack([xx * 2, yy * 3, xx + yy], axis=2).astype(np.uint8)  # smooth: 4:2:0 loses little
    frames = [scene + np.random.default_rng(i).integers(0, 16, scene.shape, dtype=np.uint8) for i in range(3)]
    low, high = x264_at_psnr(frames, 10.0, 30.0), x264_at_psnr(frames, 10.0, 35.0)
    assert low["crf"] > high["crf"] and 0 < low["kbit_s"] < high["kbit_s"]


def test_without_ffmpeg_x264_is_not_measured_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    frames = [np.zeros((64, 96, 3), np.uint8)] * 2
    assert "ffmpeg not found" in x264_at_psnr(frames, 10.0, 30.0)["note"]


def test_jpeg_search_finds_the_smallest_quality_reaching_the_target():
    import cv2

    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    low, high = jpeg_size_at_psnr(img, 10.0), jpeg_size_at_psnr(img, 30.0)
    assert low < high
    assert high <= len(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 100])[1])
