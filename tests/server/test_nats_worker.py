"""Decode workers on a real nats-server: no job ends a worker, redeliveries are capped, and only
failures that will recur are recorded."""
from __future__ import annotations

import asyncio
import hashlib
import json

import pytest

from edgecodec.server import decode_job, nats_worker
from edgecodec.server.nats_mode import KvIndex, jetstream, key_of
from edgecodec.server.records import FrameRecord
from edgecodec.server.storage import FrameStore
from harness import Server, http, stored_frames, tokens
from nats_harness import frame, start_worker, stop_worker

pytestmark = pytest.mark.usefixtures("one_thread")


def record(seq: int) -> FrameRecord:
    return FrameRecord("cam.1", seq, "0" * 64, 10, "", seq * 1000, seq * 1000, "ab", 50.0, 64, 48)


class RacingKv:
    """A frames bucket whose first read lets another worker record its error before this one writes."""

    def __init__(self, kv):
        self.kv, self.raced = kv, False

    def __getattr__(self, name: str):
        return getattr(self.kv, name)

    async def get(self, key: str):
        entry = await self.kv.get(key)
        if not self.raced:
            self.raced = True
            doc = json.loads(entry.value)
            await self.kv.update(key, json.dumps({**doc, "decode_error": "from the other worker"}).encode(),
                                 last=entry.revision)
        return entry


def test_decode_errors_are_written_with_compare_and_set_and_a_pruned_entry_is_no_error(nats_url):
    async def scenario():
        nc, js, frames, devices = await jetstream(nats_url, "cas")
        index = KvIndex(nc, js, "cas", frames, devices)
        try:
            assert await index.insert(record(0)) is None
            index.kv = RacingKv(frames)
            await index.set_decode_error("cam.1", 0, "unknown model")
            await index.set_decode_error("cam.1", 1, "unknown model")  # pruned (never stored)
            return await index.get("cam.1", 0), await index.get("cam.1", 1)
        finally:
            await nc.close()

    stored, pruned = asyncio.run(scenario())
    assert stored.decode_error == "unknown model" and pruned is None


def test_a_job_delivered_too_often_marks_its_frame_failed_and_is_terminated(tmp_path, nats_url):
    async def scenario():
        nc, js, frames, devices = await jetstream(nats_url, "cap")
        index = KvIndex(nc, js, "cap", frames, devices)
        try:
            await index.insert(record(0))
            notified = await nc.subscribe(f"cap.decoded.{key_of('cam.1', 0)}")
            await js.publish(f"cap.decode.{key_of('cam.1')}", json.dumps({"device_id": "cam.1", "seq": 0}).encode())
            sub = await js.pull_subscribe("cap.decode.>", durable="cap_decoders", stream="cap_decode")
            for _ in range(nats_worker.MAX_DELIVERIES):  # as if a worker died on it each time
                await (await sub.fetch(1, timeout=30))[0].nak()
            msg = (await sub.fetch(1, timeout=30))[0]
            await nats_worker.process(msg, index, FrameStore(tmp_path), nc, "cap")
            result = json.loads((await notified.next_msg(timeout=30)).data)
            left = (await js.stream_info("cap_decode")).state.messages
            return result, (await index.get("cam.1", 0)).decode_error, left
        finally:
            await nc.close()

    result, error, left = asyncio.run(scenario())
    assert result["ok"] is False and result["permanent"] is True and "attempts" in result["error"]
    assert error == result["error"] and left == 0


async def queue_bad_jobs(nats_url: str) -> None:
    """Prune frame 0's entry (its job stays queued) and queue malformed jobs."""
    nc, js, frames, _ = await jetstream(nats_url, "edgecodec")
    try:
        await frames.delete(key_of("cam1", 0))
        for job in (b"not json", b'{"device_id": "../x", "seq": 1}', b'{"device_id": "cam1", "seq": -1}', b"[]"):
            await js.publish(f"edgecodec.decode.{key_of('cam1')}", job)
    finally:
        await nc.close()


def test_no_job_ends_a_worker(tmp_path, nats_url, tiny_ckpt, other_ckpt):
    data = tmp_path / "data"
    device, viewer = tokens(data)
    node = Server(data, tiny_ckpt, None, "--nats", nats_url)
    workers = []
    post = lambda seq, body: http("POST", f"{node.url}/api/v1/devices/cam1/frames/{seq}", device, body)[0]
    get = lambda seq: http("GET", f"{node.url}/api/v1/devices/cam1/frames/{seq}.png", viewer)
    logs = lambda: "".join((tmp_path / f"worker{i}.log").read_text()[-1500:] for i in range(2))
    try:
        node.start()
        assert post(0, frame(other_ckpt, 0)) == 201  # a decode job that fails, for an entry about to go
        asyncio.run(queue_bad_jobs(nats_url))
        assert post(1, frame(tiny_ckpt, 1)) == 201
        workers = [start_worker(tmp_path / f"worker{i}.log", nats_url, data, tiny_ckpt) for i in range(2)]
        assert get(1)[0] == 200, logs()
        assert post(2, frame(other_ckpt, 2)) == 201  # two jobs for one frame: on arrival and this request
        status, body = get(2)
        assert status == 422 and "model" in json.loads(body)["error"], (body, logs())
        assert get(1)[0] == 200 and [w.poll() for w in workers] == [None, None], logs()
        assert [f["decode_error"] is None for f in stored_frames(node.url, viewer)] == [True, False]
    finally:
        node.stop()
        for worker in workers:
            stop_worker(worker)


def stored(store: FrameStore, seq: int, body: bytes) -> FrameRecord:
    sha = hashlib.sha256(body).hexdigest()
    return FrameRecord("cam1", seq, sha, len(body), store.write("cam1", seq, sha, body), 0, 0, "ab", 50.0, 64, 48)


def test_a_worker_records_only_failures_that_recur(tmp_path, nats_url, tiny_ckpt, other_ckpt):
    store = FrameStore(tmp_path / "data")
    good, foreign = stored(store, 0, frame(tiny_ckpt, 0)), stored(store, 1, frame(other_ckpt, 1))
    decode_job.init_worker(tiny_ckpt, "torch")

    async def scenario():
        nc, js, frames, devices = await jetstream(nats_url, "rec")
        index = KvIndex(nc, js, "rec", frames, devices)
        try:
            for rec in (good, foreign):
                await index.insert(rec)
            store.ecb_file(good.path).rename(tmp_path / "away.ecb")  # the shared filesystem loses it a while
            results = [await nats_worker.handle(index, store, "cam1", 0)]
            errors = [(await index.get("cam1", 0)).decode_error]
            (tmp_path / "away.ecb").rename(store.ecb_file(good.path))
            results += [await nats_worker.handle(index, store, "cam1", seq) for seq in (0, 1)]
            return results, errors + [(await index.get("cam1", seq)).decode_error for seq in (0, 1)]
        finally:
            await nc.close()

    (missing, restored, unknown), errors = asyncio.run(scenario())
    assert missing["ok"] is False and missing["permanent"] is False and "No such file" in missing["error"]
    assert restored == {"ok": True, "error": None, "permanent": False}
    assert store.png_file(good.path).read_bytes().startswith(b"\x89PNG")
    assert unknown["permanent"] is True and "model" in unknown["error"]
    assert errors == [None, None, unknown["error"]]
