"""The site's clip streamed with the daemon's policy, and x264 on the same frames (or why not)."""
from __future__ import annotations


import numpy as np
import pytest
from system_tools import require

from edgecodec.calibration import sitestream
from edgecodec.calibration.options import CalibrateOptions
from edgecodec.calibration.rate import DELTA, KEY, stream_row
from edgecodec.codec.facade import Codec
from edgecodec.codec.stream import CHAIN, StreamPolicy

pytestmark = pytest.mark.usefixtures("one_thread")
FPS = 10.0


@pytest.fixture(scope="module")
def static_scene() -> list[np.ndarray]:
    """Six identical 128x192 frames of a textured scene."""
    yy, xx = np.mgrid[0:128, 0:192]
    scene = np.stack([xx * 255 // 192, yy * 255 // 128, (xx ^ yy) & 0xFF], axis=2).astype(np.uint8) // 2
    frame = scene + np.random.default_rng(0).integers(0, 128, scene.shape, dtype=np.uint8)
    return [frame.copy() for _ in range(6)]


def test_the_policy_is_the_daemons_at_the_planned_frame_rate():
    assert sitestream.policy(60, FPS, 0.5, False, 3) == StreamPolicy(key_interval=600, scene_change=0.5, chain=3)
    assert CalibrateOptions.chain == StreamPolicy().chain  # calibration assumes the daemon's default


def test_a_static_scene_streams_far_below_intra(model, static_scene):
    codec = Codec(model)
    stream = sitestream.code_clip(codec, codec, static_scene, 90, sitestream.policy(60, FPS, 0.5, False, CHAIN))
    intra = sitestream.code_clip(codec, codec, static_scene, 90, sitestream.policy(60, FPS, 0.5, True, CHAIN))
    assert stream.kinds == [KEY] + [DELTA] * 5 and intra.kinds == [KEY] * 6
    assert max(stream.sizes[1:]) < 0.2 * stream.sizes[0]  # a delta frame of an unchanged scene is nearly free
    assert stream.mean_psnr == pytest.approx(intra.mean_psnr, abs=0.5)
    rows = [stream_row(90, c.sizes, c.kinds, FPS, 600, psnr=c.mean_psnr) for c in (stream, intra)]
    assert (rows[0].key_frames, rows[0].delta_frames) == (1, 5) and (rows[1].key_frames, rows[1].delta_frames) == (6, 0)
    assert rows[0].required_kbps < 0.3 * rows[1].required_kbps


def test_x264_codes_the_same_frames_with_a_two_second_gop(static_scene):
    require("ffmpeg")
    frames = static_scene * 4  # 24 frames: 2.4 s at 10 fps, so two key frames
    result = sitestream.x264_curve(frames, FPS, crfs=(40, 25))
    assert result["available"] and "-g 20" in result["description"] and "zerolatency" in result["description"]
    low, high = result["points"]
    assert low["kbit_s"] < high["kbit_s"] and low["psnr"] < high["psnr"]
    assert low["key_frames"] == 2


def test_without_ffmpeg_x264_says_why(static_scene, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = sitestream.x264_curve(static_scene, FPS)
    assert result == {"available": False, "reason": result["reason"]} and "ffmpeg not found" in result["reason"]
