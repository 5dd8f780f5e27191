"""Scaled mode on a real nats-server with authentication: two ingest nodes, decode workers, one
shared data directory, and paths never taken from JetStream."""
from __future__ import annotations

import asyncio
import json

import cv2
import nats
import numpy as np
import pytest

from edgecodec.checkpoint import from_checkpoint
from edgecodec import codec
from edgecodec.server.nats_mode import PASSWORD_FILE_ENV, KvIndex, credentials, jetstream, key_of
from edgecodec.server.records import FrameRecord
from conftest import KEY_SEQ
from harness import ENV, Server, http, stored_frames, tokens
from nats_harness import frame, scaled_site, start_worker, stop_worker

pytestmark = pytest.mark.usefixtures("one_thread")


def test_two_ingest_nodes_and_a_worker_share_one_index(tmp_path, nats_url, tiny_ckpt, other_ckpt):
    with scaled_site(tmp_path, nats_url, tiny_ckpt) as (a, b, device, viewer):
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


def test_chained_delta_frames_decode_from_their_chain_in_scaled_mode(tmp_path, nats_url, tiny_ckpt, chained):
    frames, local = chained  # 10 <- 11 <- 12 <- 13, 10 <- 14 <- 15 <- 16, 10 <- 17
    with scaled_site(tmp_path, nats_url, tiny_ckpt) as (a, b, device, viewer):
        post = lambda node, i: http("POST", f"{node.url}/api/v1/devices/cam1/frames/{KEY_SEQ + i}", device,  # noqa
                                    frames[i])[0]
        png = lambda node, i: http("GET", f"{node.url}/api/v1/devices/cam1/frames/{KEY_SEQ + i}.png", viewer)  # noqa
        assert [post(a, 3), post(b, 0), post(a, 2), post(b, 7)] == [201] * 4  # 11, a middle link, not yet
        for node, i in ((b, 3), (a, 2)):
            status, body = png(node, i)
            assert status == 424 and json.loads(body)["reason"] == "reference_missing"
            assert "frame 11, which it decodes from" in json.loads(body)["error"]
        assert [f["seq"] for f in stored_frames(b.url, viewer) if f["reference_missing"]] == [KEY_SEQ + 2, KEY_SEQ + 3]
        assert [post(b, 1), post(a, 6), post(b, 4), post(a, 5)] == [201] * 4
        for node, i in ((a, 6), (b, 3), (a, 0), (b, 2), (a, 7), (b, 1), (a, 5), (b, 4)):
            status, body = png(node, i)
            assert status == 200, (body, (tmp_path / "worker.log").read_text()[-2000:])
            np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1],
                                          local[i])
        assert not any(f["reference_missing"] or f["decode_error"] for f in stored_frames(a.url, viewer))
        latest = http("GET", f"{b.url}/api/v1/devices/cam1/latest.jpg", viewer)
        assert latest[0] == 200 and latest == http("GET", f"{a.url}/api/v1/devices/cam1/frames/{KEY_SEQ + 7}.jpg",
                                                   viewer)


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


def test_the_nats_server_refuses_connections_without_the_credentials(nats_url, monkeypatch):
    async def connect(url: str):
        async def quiet(error: Exception) -> None:
            pass

        nc = await nats.connect(url, allow_reconnect=False, error_cb=quiet, **credentials(url))
        await nc.close()

    monkeypatch.delenv(PASSWORD_FILE_ENV)
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        asyncio.run(connect(nats_url))
    with pytest.raises(ValueError, match="names no user"):
        monkeypatch.setenv(PASSWORD_FILE_ENV, ENV[PASSWORD_FILE_ENV])
        credentials(nats_url.replace("edgecodec@", ""))
    asyncio.run(connect(nats_url))


async def forge_path(nats_url: str, seq: int, path: str) -> None:
    """What anyone who can write to JetStream can do: point a frame's entry at another file, and
    queue a decode job that names that file."""
    nc, js, frames, _ = await jetstream(nats_url, "edgecodec")
    try:
        doc = json.loads((await frames.get(key_of("cam1", seq))).value)
        await frames.put(key_of("cam1", seq), json.dumps({**doc, "path": path}).encode())
        result = await nc.subscribe(f"edgecodec.decoded.{key_of('cam1', seq)}")
        await js.publish(f"edgecodec.decode.{key_of('cam1')}",
                         json.dumps({"device_id": "cam1", "seq": seq, "path": path}).encode())
        await result.next_msg(timeout=60)
    finally:
        await nc.close()


def test_file_paths_come_from_device_seq_and_hash_never_from_jetstream(tmp_path, nats_url, tiny_ckpt):
    data = tmp_path / "site" / "data"
    device, viewer = tokens(data)
    secret = frame(tiny_ckpt, 7)  # a file outside the data directory (and a valid frame: it would decode)
    (tmp_path / "secret.ecb").write_bytes(secret)
    node = Server(data, tiny_ckpt, None, "--nats", nats_url)
    worker = None
    try:
        node.start()
        body = frame(tiny_ckpt, 0)
        assert http("POST", f"{node.url}/api/v1/devices/cam1/frames/0", device, body)[0] == 201
        worker = start_worker(tmp_path / "worker.log", nats_url, data, tiny_ckpt)
        asyncio.run(forge_path(nats_url, 0, "../../secret.ecb"))
        assert http("GET", f"{node.url}/api/v1/devices/cam1/frames/0.ecb", viewer) == (200, body)
        status, png = http("GET", f"{node.url}/api/v1/devices/cam1/frames/0.png", viewer)
        assert status == 200, (png, (tmp_path / "worker.log").read_text()[-2000:])
        served = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        np.testing.assert_array_equal(served, codec.Codec(from_checkpoint(tiny_ckpt)).decode(body))
        assert [p for p in tmp_path.rglob("*.png") if data not in p.parents] == []
    finally:
        node.stop()
        stop_worker(worker)
