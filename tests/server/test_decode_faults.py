"""Embedded decoding: a killed decode worker, or a stored file briefly missing or corrupt, fails no
frame for good; only what will recur is recorded."""
from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import signal

import pytest

from app_client import app_client, run
from edgecodec.server.config import ServerConfig
from edgecodec.server.local_decoder import LocalDecoder
from edgecodec.server.metrics import ServerMetrics
from edgecodec.server.records import FrameRecord
from edgecodec.server.sqlite_index import SqliteIndex
from edgecodec.server.storage import FrameStore
from harness import tokens
from nats_harness import frame

pytestmark = pytest.mark.usefixtures("one_thread")


async def kill_while_decoding(decoder: LocalDecoder, rec: FrameRecord, fifo: str, body: bytes) -> bytes:
    """Request the PNG of a frame whose file is a FIFO: once the worker has opened it (it is decoding),
    put the real file in its place and SIGKILL the worker, as the OOM killer would."""
    before = set(multiprocessing.active_children())
    await decoder.start()
    workers = set(multiprocessing.active_children()) - before
    pending = asyncio.ensure_future(decoder.png(rec))
    fd = await asyncio.get_running_loop().run_in_executor(None, os.open, fifo, os.O_WRONLY)
    with open(fifo + ".tmp", "wb") as f:
        f.write(body)
    os.replace(fifo + ".tmp", fifo)
    for proc in workers:
        os.kill(proc.pid, signal.SIGKILL)
    os.close(fd)
    return await pending


def test_the_frame_a_killed_decode_worker_held_is_decoded_again(tmp_path, tiny_ckpt):
    body = frame(tiny_ckpt, 0)
    sha = hashlib.sha256(body).hexdigest()
    store = FrameStore(tmp_path)
    rec = FrameRecord("cam1", 0, sha, len(body), store.relative_path("cam1", 0, sha), 0, 0, "ab", 50.0, 64, 48)
    store.ecb_file(rec.path).parent.mkdir(parents=True)
    os.mkfifo(store.ecb_file(rec.path))

    async def scenario():
        index = SqliteIndex(tmp_path)
        cfg = ServerConfig(data=tmp_path, model=tiny_ckpt, decode_workers=1, decode_on_arrival=False, decode_queue=4)
        decoder = LocalDecoder(store, index, ServerMetrics(), cfg)
        try:
            await index.insert(rec)
            png = await kill_while_decoding(decoder, rec, str(store.ecb_file(rec.path)), body)
            return png, (await index.get("cam1", 0)).decode_error
        finally:
            await decoder.close()
            await index.close()

    png, error = run(scenario())
    assert png == store.png_file(rec.path).read_bytes() and png.startswith(b"\x89PNG") and error is None


def test_a_stored_file_briefly_missing_or_corrupt_is_not_failed_for_good(tmp_path, tiny_ckpt):
    device, viewer = tokens(tmp_path)
    body = frame(tiny_ckpt, 1)

    async def go():
        async with app_client(tmp_path, decode_workers=1, model=tiny_ckpt, decode_on_arrival=False) as (client, ctx):
            upload, read = ({"Authorization": f"Bearer {token}"} for token in (device, viewer))
            assert (await client.post("/api/v1/devices/cam1/frames/0", data=body, headers=upload)).status == 201
            ecb = ctx.store.ecb_file((await ctx.index.get("cam1", 0)).path)
            answers = []
            for damage in ("missing", "corrupt", None):
                if damage == "missing":
                    ecb.rename(tmp_path / "away.ecb")
                elif damage == "corrupt":
                    ecb.write_bytes(body[:-1] + bytes([body[-1] ^ 1]))
                else:
                    (tmp_path / "away.ecb").replace(ecb)
                png = await client.get("/api/v1/devices/cam1/frames/0.png", headers=read)
                answers.append((png.status, (await png.json())["reason"] if png.status != 200 else None))
            return answers, (await ctx.index.get("cam1", 0)).decode_error

    answers, error = run(go())
    assert answers == [(503, "decode_unavailable"), (503, "decode_unavailable"), (200, None)]
    assert error is None
