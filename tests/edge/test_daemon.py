"""The wired daemon (capture and encoder faked) against the real ingest server on loopback."""
from __future__ import annotations

import numpy as np
from edge_servers import crafted_frame, ingest_server

from edgecodec.codec import bitstream
from edgecodec.codec.stream import EncodedFrame
from edgecodec.edge import daemon
from edgecodec.edge.config import DaemonConfig
from edgecodec.server.tokens import TokenStore


class Frames:
    """A video file of frames of the given (height, width)."""

    def __init__(self, sizes: list[tuple[int, int]]):
        self.left = [np.zeros((h, w, 3), np.uint8) for h, w in sizes]

    def read(self):
        return (True, self.left.pop(0)) if self.left else (False, None)

    def release(self) -> None:
        pass


def test_the_daemon_takes_its_one_pixel_limit_from_the_configuration(tmp_path, monkeypatch):
    """Frames within max_pixels are encoded, spooled and acknowledged; larger ones are dropped
    before encoding, none after."""
    data, encoded = tmp_path / "data", []
    (tmp_path / "token").write_text(TokenStore(data).add("cam1", "device"))
    (tmp_path / "camera.avi").touch()
    monkeypatch.setattr(daemon, "open_capture", lambda plan: Frames([(16, 16), (16, 24), (24, 24), (16, 16)]))

    class KeyFrames:
        model_id = "00" * 16

        def __init__(self, cfg: DaemonConfig):
            pass

        def force_key(self) -> None:
            pass

        def restart_chain(self) -> None:
            pass

        def encode(self, rgb: np.ndarray, seq: int) -> EncodedFrame:
            encoded.append(rgb.shape[:2])
            return EncodedFrame(crafted_frame(rgb.shape[1], rgb.shape[0], bytes([len(encoded)])), seq,
                                bitstream.KEY, 0.0)

    monkeypatch.setattr(daemon, "InferenceStream", KeyFrames)
    with ingest_server(data, max_pixels=16 * 24) as url:
        cfg = DaemonConfig(source=str(tmp_path / "camera.avi"), server=url, device_id="cam1", fps=0,
                           token_file=tmp_path / "token", spool=tmp_path / "spool", max_pixels=16 * 24,
                           http_listen="127.0.0.1:0")
        summary = daemon.run_daemon(cfg)
    assert encoded == [(16, 16), (16, 24), (16, 16)]  # 24x24 is over 16 * 24 pixels
    assert (summary["dropped"], summary["uploaded"], summary["corrupt"], summary["rejected"]) == (1, 3, 0, 0)
    assert summary["spool_frames"] == 0


def test_the_inference_stream_codes_the_configured_chains_and_restarts_one(tmp_path, tiny_ckpt, caplog):
    (tmp_path / "token").write_text("t")
    cfg = DaemonConfig(source="0", server="https://nvr.example", device_id="cam1", token_file=tmp_path / "token",
                       spool=tmp_path / "spool", model=tiny_ckpt, scene_change=1.0, chain=2)
    caplog.set_level("INFO", "edgecodec.daemon")
    stream = daemon.InferenceStream(cfg)
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    refs = [stream.encode(image, seq).ref_seq for seq in range(4)]
    stream.restart_chain()  # d3 was lost: d4 references the key frame, not d3
    refs.append(stream.encode(image, 4).ref_seq)
    assert refs == [None, 0, 1, 0, 0]
    assert "in chains of at most 2, a key frame at least every 60 s" in caplog.text
