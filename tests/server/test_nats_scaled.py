"""Scaled mode on a real nats-server: two ingest nodes, one decode worker, one shared data directory."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgecodec.checkpoint import from_checkpoint
from edgecodec.codec import codec
from edgecodec.server.nats_mode import KvIndex, jetstream, key_of
from edgecodec.server.records import FrameRecord
from harness import ENV, Server, free_port, http, stored_frames, tokens

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def nats_url(tmp_path):
    binary = shutil.which("nats-server")
    if binary is None:
        pytest.fail("nats-server is not installed: run `make system-deps` (Debian package nats-server)")
    port = free_port()
    proc = subprocess.Popen([binary, "-js", "-sd", str(tmp_path / "jetstream"), "-a", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield f"nats://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def frame(ckpt: str, seed: int) -> bytes:
    img = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return codec.Codec(from_checkpoint(ckpt)).encode(img, 50)


def test_two_ingest_nodes_and_a_worker_share_one_index(tmp_path, nats_url, tiny_ckpt, other_ckpt):
    data = tmp_path / "data"
    device, viewer = tokens(data)
    nodes = [Server(data, tiny_ckpt, None, "--nats", nats_url) for _ in range(2)]
    worker = subprocess.Popen([sys.executable, "-m", "edgecodec", "worker", "--nats", nats_url, "--data", str(data),
                               "--model", tiny_ckpt], env=ENV, stdout=subprocess.DEVNULL,
                              stderr=open(tmp_path / "worker.log", "wb"))
    try:
        a, b = (node.start() for node in nodes)
        bodies = [frame(tiny_ckpt, seed) for seed in range(4)]
        post = lambda node, seq, body: http("POST", f"{node.url}/api/v1/devices/cam1/frames/{seq}", device, body)[0]
        assert [post(a if seq % 2 else b, seq, body) for seq, body in enumerate(bodies)] == [201] * 4
        assert [post(b if seq % 2 else a, seq, body) for seq, body in enumerate(bodies)] == [200] * 4
        assert post(b, 1, bodies[2]) == 409
        assert post(a, 4, frame(other_ckpt, 9)) == 201
        assert [f["seq"] for f in stored_frames(b.url, viewer)] == [0, 1, 2, 3, 4]
        status, devices = http("GET", f"{a.url}/api/v1/devices", viewer)
        assert status == 200 and json.loads(devices)["devices"][0]["frames"] == 5
        model = from_checkpoint(tiny_ckpt)
        for seq, body in enumerate(bodies):
            status, png = http("GET", f"{(a, b)[seq % 2].url}/api/v1/devices/cam1/frames/{seq}.png", viewer)
            assert status == 200, (png, (tmp_path / "worker.log").read_text()[-2000:])
            served = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
            np.testing.assert_array_equal(served, codec.Codec(model).decode(body))
        status, failed = http("GET", f"{b.url}/api/v1/devices/cam1/frames/4.png", viewer)
        assert status == 422 and "model" in json.loads(failed)["error"]
        assert "model" in stored_frames(a.url, viewer)[4]["decode_error"]
    finally:
        for node in nodes:
            node.stop()
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            raise


def record(seq: int, error: str | None = None) -> FrameRecord:
    return FrameRecord("cam.1", seq, "0" * 64, 10, f"f/{seq}.ecb", seq * 1000, seq * 1000, "ab", 50.0, 64, 48, error)


class UpdatesDuringScan:
    """JetStream whose first stream read lets another node update that frame before the walk goes on."""

    def __init__(self, js, index: KvIndex):
        self.js, self.index, self.done = js, index, False

    async def get_msg(self, *args, **kwargs):
        msg = await self.js.get_msg(*args, **kwargs)
        if not self.done:
            self.done = True
            await self.index.set_decode_error("cam.1", 0, "decoded elsewhere")
        return msg


def test_listing_sees_each_frame_once_while_another_node_updates_it(nats_url):
    async def scenario():
        nc, js, frames, devices = await jetstream(nats_url, "scan")
        index = KvIndex(nc, js, "scan", frames, devices)
        try:
            for seq in range(3):
                assert await index.insert(record(seq)) is None
            await frames.delete(key_of("cam.1", 2))
            index.js = UpdatesDuringScan(js, index)
            listed = await index.frames("cam.1", 0, 10**9, 100)
        finally:
            await nc.close()
        return listed

    listed = asyncio.run(scenario())
    assert [(r.seq, r.decode_error) for r in listed] == [(0, "decoded elsewhere"), (1, None)]
