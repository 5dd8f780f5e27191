"""Decode worker processes end with the server: with a server killed by SIGKILL (parent-death signal),
and on a stop, which waits for a running decode only stop_grace_s seconds."""
from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from app_client import run
from edgecodec.server.auth import Refused
from edgecodec.server.config import ServerConfig
from edgecodec.server.local_decoder import LocalDecoder
from edgecodec.server.metrics import ServerMetrics
from edgecodec.server.records import FrameRecord
from edgecodec.server.sqlite_index import SqliteIndex
from edgecodec.server.storage import FrameStore
from harness import Server, tokens
from nats_harness import frame

pytestmark = pytest.mark.usefixtures("one_thread")


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` and that run multiprocessing's spawn (decode workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid and b"spawn_main" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_decode_workers_exit_when_the_server_is_killed(tmp_path, tiny_ckpt):
    data = tmp_path / "data"
    tokens(data)
    server = Server(data, tiny_ckpt, None, "--decode-workers", "1").start()
    workers = children(server.proc.pid)
    try:
        assert len(workers) == 1, workers
        server.kill9()
        deadline = time.monotonic() + 60
        while any(running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if running(pid)], "decode workers outlived the server"
    finally:
        server.stop()
        for pid in workers:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_stop_waits_for_a_running_decode_only_stop_grace_s(tmp_path, tiny_ckpt):
    body = frame(tiny_ckpt, 0)
    sha = hashlib.sha256(body).hexdigest()
    store = FrameStore(tmp_path)
    rec = FrameRecord("cam1", 0, sha, len(body), store.relative_path("cam1", 0, sha), 0, 0, "ab", 50.0, 64, 48)
    fifo = store.ecb_file(rec.path)
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)  # the worker blocks reading it: a decode that does not end by itself

    async def scenario():
        index = SqliteIndex(tmp_path)
        cfg = ServerConfig(data=tmp_path, model=tiny_ckpt, decode_workers=1, decode_on_arrival=False,
                           stop_grace_s=0.5)
        decoder = LocalDecoder(store, index, ServerMetrics(), cfg)
        before = set(multiprocessing.active_children())
        await decoder.start()
        workers = set(multiprocessing.active_children()) - before
        request = asyncio.ensure_future(decoder.png(rec))
        fd = await asyncio.get_running_loop().run_in_executor(None, os.open, fifo, os.O_WRONLY)  # it is decoding
        try:
            await asyncio.wait_for(decoder.close(), 60)
            answer = await asyncio.wait_for(asyncio.gather(request, return_exceptions=True), 60)
            return workers, answer[0]
        finally:
            os.close(fd)
            await index.close()

    workers, answer = run(scenario())
    assert workers and not [p for p in workers if p.is_alive()], "the busy worker survived the stop"
    assert isinstance(answer, Refused) and answer.status == 503, answer
