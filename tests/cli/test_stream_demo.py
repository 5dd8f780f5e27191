"""run_stream_demo: the whole loop on a few frames of a small video."""
from __future__ import annotations

import pytest

from edgecodec.cli.stream_demo import _jpeg_size_at_psnr, _make_video, run_stream_demo

pytestmark = pytest.mark.usefixtures("one_thread")


def test_demo_streams_measures_and_prints(tmp_path, tiny_ckpt, capsys):
    video = _make_video(tmp_path / "clip.avi", 4)
    summary = run_stream_demo(frames=3, model=tiny_ckpt, source=str(video))
    out = capsys.readouterr().out
    assert summary["frames_stored"] == 3 and summary["daemon"]["uploaded"] == 3
    assert summary["mean_bpp"] > 0 and summary["kbit_s"] == pytest.approx(summary["mean_bpp"] * 768 * 576 * 10 / 1000)
    assert 0 < summary["mean_psnr_db"] < 100 and summary["jpeg_mean_bpp"] > 0
    assert "frames stored: 3 of 3" in out and "#token=ecb_" in out


def test_jpeg_search_finds_the_smallest_quality_reaching_the_target(tmp_path):
    import cv2
    import numpy as np

    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    low, high = _jpeg_size_at_psnr(img, 10.0), _jpeg_size_at_psnr(img, 30.0)
    assert low < high
    assert high <= len(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 100])[1])
