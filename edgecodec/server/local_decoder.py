"""Embedded decoding: a pool of worker processes, fed on arrival (bounded queue) or on demand."""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from . import decode_job
from .metrics import ServerMetrics
from .records import FrameRecord
from .storage import FrameStore

log = logging.getLogger("edgecodec.decode")


class DecodeFailed(ValueError):
    """The frame cannot be decoded by this server (error recorded in the index)."""


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

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=decode_job.init_worker, initargs=(self.model, self.backend))

    async def start(self) -> None:
        self._pool = self._new_pool()
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
            except DecodeFailed:
                pass

    async def png(self, rec: FrameRecord) -> bytes:
        """The frame's PNG bytes (cached on disk); raises DecodeFailed."""
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
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._pool, decode_job.decode_to_png, str(self.store.ecb_file(rec.path)),
                                       str(self.store.png_file(rec.path)))
            self.metrics.decoded.inc()
        except BrokenProcessPool:
            log.error("a decode worker died on frame %s/%d: restarting the pool", rec.device_id, rec.seq)
            self._pool = self._new_pool()
            await self._failed(rec, "the decoder crashed on this frame")
        except (ValueError, OSError, RuntimeError) as e:
            await self._failed(rec, str(e).splitlines()[0] if str(e) else type(e).__name__)

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
