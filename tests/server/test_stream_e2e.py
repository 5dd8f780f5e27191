"""The daemon streams a video to a real server; every frame is stored once and decodes identically."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgecodec.checkpoint import from_checkpoint
from edgecodec.codec import bitstream, codec
from harness import VTEST, Server, daemon_cmd, finish_daemon, http, make_video, start_daemon, stored_frames, tokens

pytestmark = pytest.mark.usefixtures("one_thread")
FRAMES = 20


@pytest.fixture
def video(tmp_path):
    return VTEST if VTEST.is_file() else make_video(tmp_path / "generated.avi", FRAMES, 768, 576)


def test_every_frame_stored_once_and_server_decode_equals_local(tmp_path, tiny_ckpt, video):
    data = tmp_path / "data"
    device_token, viewer = tokens(data)
    (tmp_path / "token").write_text(device_token)
    server = Server(data, tiny_ckpt).start()
    try:
        cmd = daemon_cmd(video, server.url, tmp_path / "token", tmp_path / "spool", tiny_ckpt,
                         "--max-frames", str(FRAMES), "--fps", "0", "--quality", "40")
        summary = finish_daemon(start_daemon(cmd, tmp_path / "daemon.log"), tmp_path / "daemon.log")
        assert summary["captured"] == summary["encoded"] == summary["uploaded"] == FRAMES
        assert summary["dropped"] == summary["evicted"] == summary["spool_frames"] == 0
        frames = stored_frames(server.url, viewer)
        assert [f["seq"] for f in frames] == list(range(FRAMES))
        assert all(a["capture_us"] < b["capture_us"] for a, b in zip(frames, frames[1:]))
        model = from_checkpoint(tiny_ckpt)
        cap = cv2.VideoCapture(str(video))
        for f in frames:
            status, ecb = http("GET", server.url + f["ecb_url"], viewer)
            assert status == 200 and bitstream.read_header(ecb)[0].quality == 40.0
            status, png = http("GET", server.url + f["png_url"], viewer)
            assert status == 200
            served = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
            local = codec.Codec(model).decode(ecb)
            np.testing.assert_array_equal(served, local)
            ok, original = cap.read()
            assert ok and local.shape == original.shape
        status, body = http("GET", f"{server.url}/api/v1/devices", viewer)
        assert status == 200 and b'"frames": 20' in body
    finally:
        server.stop()
