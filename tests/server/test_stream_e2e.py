"""The daemon streams a video to a real server as key and delta frames; every frame is stored once and
the server's decode of each equals a local stream decode."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgecodec.codec import bitstream
from edgecodec.codec.stream import StreamDecoder
from edgecodec.runtime import load_codec
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
        local = StreamDecoder(load_codec(str(tiny_ckpt), "torch"))
        cap = cv2.VideoCapture(str(video))
        for f in frames:
            status, ecb = http("GET", server.url + f["ecb_url"], viewer)
            header = bitstream.read_header(ecb)[0]
            assert status == 200 and header.quality == 40.0 and header.seq == f["seq"]
            assert (f["kind"], f["ref_seq"], f["reference_missing"]) == (
                ("delta", header.ref_seq, False) if header.is_delta else ("key", None, False))
            status, png = http("GET", server.url + f["png_url"], viewer)
            assert status == 200
            served = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
            decoded = local.decode(ecb)
            np.testing.assert_array_equal(served, decoded)
            ok, original = cap.read()
            assert ok and decoded.shape == original.shape
        kinds = [f["kind"] for f in frames]
        assert kinds[0] == "key" and kinds.count("delta") >= FRAMES // 2, kinds
        status, body = http("GET", f"{server.url}/api/v1/devices", viewer)
        assert status == 200 and b'"frames": 20' in body
    finally:
        server.stop()
