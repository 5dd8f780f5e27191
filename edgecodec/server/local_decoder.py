"""Embedded decoding: a pool of worker processes, fed on arrival (bounded queue) or on demand.

Only a failure that will recur is recorded in the index (see decode_job); others answer 503 and
the next request tries again. A crashed worker breaks the whole pool, so every frame it held is
retried alone in a fresh process: one that crashes that too, CRASH_RETRIES times, is recorded.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..errors import one_line
from . import decode_job
from .auth import Refused
from .metrics import ServerMetrics
from .records import FrameRecord
from .storage import FrameStore

log = logging.getLogger("edgecodec.decode")
CRASH_RETRIES = 2


class DecodeFailed(ValueError):
    """The frame cannot be decoded by this server (error recorded in the index)."""


def decode_unavailable(error: str) -> Refused:
    """A failure that may not recur (not recorded): 503, the client may try again."""
    return Refused(503, "decode_unavailable", f"the frame cannot be decoded now ({error}); try again later")


class LocalDecoder:
    """``workers`` processes; a full arrival queue skips the frame (decoded later on demand)."""

    def __init__(self, store: FrameStore, index, metrics: ServerMetrics, model: str | None, backend: str,
                 workers: int, on_arrival: bool, queue_size: int):
        self.store, self.index, self.metrics = store, index, metrics
        self.model, self.backend, self.workers = model, backend, workers
        self.on_arrival = on_arrival
        self.queue: asyncio.Queue[FrameRecord] = asyncio.Queue(maxsize=queue_size)
        self._pending: dict[tuple[str, int], asyncio.Future] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._tasks: list[asyncio.Task] = []
        self._alone = asyncio.Lock()  # one frame at a time in the crash-retry process

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=decode_job.init_worker, initargs=(self.model, self.backend))

    async def start(self) -> None:
        self._pool = self._new_pool(self.workers)
        mid = await asyncio.get_running_loop().run_in_executor(self._pool, decode_job.model_id_hex)
        log.info("%d decode worker(s) ready, model %s", self.workers, mid)
        self._tasks = [asyncio.create_task(self._drain()) for _ in range(self.workers)]

    def on_stored(self, rec: FrameRecord) -> None:
        """A frame was stored: decode it soon, unless the queue is full."""
        if not self.on_arrival:
            return
        try:
            self.queue.put_nowait(rec)
        except asyncio.QueueFull:
            self.metrics.decode_skipped.inc()

    async def _drain(self) -> None:
        while True:
            rec = await self.queue.get()
            try:
                await self.png(rec)
            except (DecodeFailed, Refused):
                pass  # recorded, or decoded on demand later

    async def png(self, rec: FrameRecord) -> bytes:
        """The frame's PNG bytes (cached on disk); DecodeFailed (recorded) or Refused 503 (may work later)."""
        png_file = self.store.png_file(rec.path)
        if rec.decode_error is None and png_file.exists():
            return png_file.read_bytes()
        if rec.decode_error is not None:
            raise DecodeFailed(rec.decode_error)
        key = (rec.device_id, rec.seq)
        if key not in self._pending:
            self._pending[key] = asyncio.ensure_future(self._decode(rec))
            self._pending[key].add_done_callback(lambda _: self._pending.pop(key, None))
        await asyncio.shield(self._pending[key])
        return png_file.read_bytes()

    async def _decode(self, rec: FrameRecord) -> None:
        args = (str(self.store.ecb_file(rec.path)), str(self.store.png_file(rec.path)), rec.sha256)
        try:
            await self._run(rec, args)
        except ValueError as e:
            await self._failed(rec, one_line(e))
        except Exception as e:  # OSError, MemoryError, RuntimeError...: not recorded, retried on request
            log.warning("frame %s/%d not decoded for now: %s", rec.device_id, rec.seq, one_line(e))
            raise decode_unavailable(one_line(e)) from None
        self.metrics.decoded.inc()

    async def _run(self, rec: FrameRecord, args: tuple[str, str, str]) -> int:
        """decode_to_png in the pool (returns the PNG's size); after a crash, alone in a new process,
        up to CRASH_RETRIES times (ValueError when it crashed each time)."""
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, decode_job.decode_to_png, *args)
        except BrokenProcessPool:
            if self._pool is pool:
                log.error("a decode worker died: restarting the pool, retrying its frames one at a time")
                self._pool = self._new_pool(self.workers)
                pool.shutdown(wait=False)
        for _ in range(CRASH_RETRIES):
            async with self._alone:
                alone = self._new_pool(1)
                try:
                    return await asyncio.get_running_loop().run_in_executor(alone, decode_job.decode_to_png, *args)
                except BrokenProcessPool:
                    log.error("the decoder crashed on frame %s/%d alone", rec.device_id, rec.seq)
                finally:
                    alone.shutdown(wait=False)
        raise ValueError(f"the decoder crashed on this frame ({CRASH_RETRIES} times, alone)")

    async def _failed(self, rec: FrameRecord, error: str) -> None:
        self.metrics.decode_failed.inc()
        log.warning("frame %s/%d does not decode: %s", rec.device_id, rec.seq, error)
        await self.index.set_decode_error(rec.device_id, rec.seq, error)
        raise DecodeFailed(error)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
