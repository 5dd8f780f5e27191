"""Embedded decoding: worker processes fed from two bounded queues, PNG requests before arrivals.

- A PNG request whose frame is not decoded or decoding yet takes a place in the request queue
  (``decode_request_queue`` frames, all cameras); one camera's frames there, waiting or decoding,
  hold at most ``decode_device_pixels`` pixels. Beyond either: 429 with Retry-After. A frame whose
  requesters all left before its decode started is dropped, never decoded (counted).
- ``decode_on_arrival`` queues each stored frame (``decode_queue`` frames; a full queue skips it:
  it is decoded on demand later).

Only a failure that will recur is recorded in the index (see decode_job); others answer 503 and
the next request tries again. A worker that dies is replaced and its frame retried in the fresh
process: one that kills it CRASH_RETRIES + 1 times is recorded.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from ..errors import message_line
from .auth import Refused
from .config import ServerConfig
from .decode_process import DecodeProcess
from .metrics import ServerMetrics
from .records import FrameRecord
from .references import chain_files, references_of
from .storage import FrameStore

log = logging.getLogger("edgecodec.decode")
CRASH_RETRIES = 2
RETRY_AFTER_S = 2


class DecodeFailed(ValueError):
    """The frame cannot be decoded by this server (error recorded in the index)."""


def decode_unavailable(error: str) -> Refused:
    """A failure that may not recur (not recorded): 503, the client may try again."""
    return Refused(503, "decode_unavailable", f"the frame cannot be decoded now ({error}); try again later")


def _busy(reason: str, message: str) -> Refused:
    return Refused(429, reason, f"{message}; try again later", {"Retry-After": str(RETRY_AFTER_S)})


def _retrieve(future: asyncio.Future) -> None:
    """An arrival's failure is recorded or logged already: nobody needs to await it."""
    if not future.cancelled():
        future.exception()


@dataclass(eq=False)
class _Job:
    """One frame to decode, wanted by its arrival, by PNG requests (``waiters``), or both."""

    rec: FrameRecord
    future: asyncio.Future
    arrival: bool = False  # in the arrival queue, or decoding for it
    demand: bool = False  # in the request queue, or decoding for it
    started: bool = False
    waiters: int = 0

    @property
    def key(self) -> tuple[str, int]:
        return self.rec.device_id, self.rec.seq

    @property
    def pixels(self) -> int:
        return self.rec.width * self.rec.height


class LocalDecoder:
    """``decode_workers`` processes, each taking the next request, else the next arrival."""

    def __init__(self, store: FrameStore, index, metrics: ServerMetrics, cfg: ServerConfig):
        self.store, self.index, self.metrics, self.cfg = store, index, metrics, cfg
        self.processes = [DecodeProcess(cfg.model, cfg.backend, cfg.decode_worker_jobs, cfg.decode_worker_max_mb << 20,
                                        metrics) for _ in range(cfg.decode_workers)]
        self._pending: dict[tuple[str, int], _Job] = {}
        self._demand: deque[_Job] = deque()
        self._arrivals: deque[_Job] = deque()
        self._device_pixels: Counter[str] = Counter()  # of the jobs in (or decoding from) the request queue
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._closed = False
        metrics.decode_waiting.set_function(lambda: len(self._demand))

    async def start(self) -> None:
        model_ids = await asyncio.gather(*(p.start() for p in self.processes))
        log.info("%d decode worker(s) ready, model %s", len(model_ids), model_ids[0])
        self.metrics.build_info.model(model_ids[0])
        self._tasks = [asyncio.create_task(self._serve(p)) for p in self.processes]

    def _new_job(self, rec: FrameRecord, **flags: bool) -> _Job:
        job = _Job(rec, asyncio.get_running_loop().create_future(), **flags)
        job.future.add_done_callback(_retrieve)
        self._pending[job.key] = job
        return job

    def on_stored(self, rec: FrameRecord) -> None:
        """A frame was stored: decode it soon, unless the arrival queue is full."""
        if not self.cfg.decode_on_arrival or self._closed or (rec.device_id, rec.seq) in self._pending:
            return
        if len(self._arrivals) >= self.cfg.decode_queue:
            self.metrics.decode_skipped.inc()
            return
        self._arrivals.append(self._new_job(rec, arrival=True))
        self._wake.set()

    async def png(self, rec: FrameRecord) -> bytes:
        """The frame's PNG bytes (cached on disk); DecodeFailed (recorded), Refused 503 (may work later)
        or 429 (no room in the request queue). Cancelling the call withdraws this request."""
        if rec.decode_error is not None:
            raise DecodeFailed(rec.decode_error)
        png_file = self.store.png_file(rec.path)
        if png_file.exists():
            return png_file.read_bytes()
        if self._closed:
            raise decode_unavailable("the server is stopping")
        job = self._want(rec)
        job.waiters += 1
        try:
            await asyncio.shield(job.future)
        finally:
            job.waiters -= 1
            if job.waiters == 0 and job.demand and not job.started:
                self._abandon(job)
        return png_file.read_bytes()

    def _want(self, rec: FrameRecord) -> _Job:
        """The frame's job, put in the request queue unless it is there or decoding (else 429)."""
        job = self._pending.get((rec.device_id, rec.seq))
        if job is not None and (job.started or job.demand):
            return job
        if len(self._demand) >= self.cfg.decode_request_queue:
            raise _busy("busy", f"{len(self._demand)} PNG requests are waiting for a decoder")
        if self._device_pixels[rec.device_id] + rec.width * rec.height > self.cfg.decode_device_pixels:
            raise _busy("device_busy", f"the decodes of {rec.device_id} waiting or running use its pixel budget")
        if job is None:
            job = self._new_job(rec)
        job.demand = True
        self._device_pixels[rec.device_id] += job.pixels
        self._demand.append(job)
        self._wake.set()
        return job

    def _release(self, job: _Job) -> None:
        self._device_pixels[job.rec.device_id] -= job.pixels
        if self._device_pixels[job.rec.device_id] <= 0:
            del self._device_pixels[job.rec.device_id]

    def _abandon(self, job: _Job) -> None:
        """Every requester left before the decode started: out of the queue, and dropped unless it arrived."""
        self._demand.remove(job)
        job.demand = False
        self._release(job)
        if not job.arrival:
            del self._pending[job.key]
            job.future.cancel()
            self.metrics.decode_cancelled.inc()

    def _next(self) -> _Job | None:
        if self._demand:
            job = self._demand.popleft()
            if job.arrival:
                self._arrivals.remove(job)
        elif self._arrivals:
            job = self._arrivals.popleft()
        else:
            return None
        job.started = True
        return job

    async def _serve(self, process: DecodeProcess) -> None:
        while True:
            job = self._next()
            if job is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            failure: Exception | None = None
            try:
                await self._decode(job.rec, process)
            except (DecodeFailed, Refused) as e:
                failure = e
            except Exception as e:  # a bug: this request fails, the worker goes on
                log.error("decoding frame %s/%d failed: %s: %s", *job.key, type(e).__name__, message_line(e))
                failure = decode_unavailable(message_line(e))
            finally:
                self._finished(job)
            if job.future.done():  # close() answered for it
                continue
            if failure is None:
                job.future.set_result(None)
            else:
                job.future.set_exception(failure)

    def _finished(self, job: _Job) -> None:
        if self._pending.get(job.key) is job:
            del self._pending[job.key]
            if job.demand:
                self._release(job)

    async def _decode(self, rec: FrameRecord, process: DecodeProcess) -> None:
        try:
            chain = chain_files(self.store, await references_of(self.index, rec))
            args = (str(self.store.ecb_file(rec.path)), str(self.store.png_file(rec.path)), rec.sha256, chain,
                    self.cfg.max_pixels)
            await self._run(rec, process, args)
        except Refused:  # a reference has not arrived: not this frame's failure, nothing recorded
            self.metrics.reference_missing.inc()
            raise
        except ValueError as e:
            await self._failed(rec, message_line(e))
        except Exception as e:  # OSError, MemoryError, RuntimeError...: not recorded, retried on request
            log.warning("frame %s/%d not decoded for now: %s", rec.device_id, rec.seq, message_line(e))
            raise decode_unavailable(message_line(e)) from None
        self.metrics.decoded.inc()

    async def _run(self, rec: FrameRecord, process: DecodeProcess, args: tuple) -> None:
        """decode_to_png in ``process``; after a crash again in its replacement, up to CRASH_RETRIES times
        (ValueError when it crashed each time)."""
        for attempt in range(CRASH_RETRIES + 1):
            try:
                return await process.decode(*args)
            except BrokenProcessPool:
                log.error("a decode worker died on frame %s/%d (%d of %d)", rec.device_id, rec.seq, attempt + 1,
                          CRASH_RETRIES + 1)
        raise ValueError(f"the decoder crashed on this frame ({CRASH_RETRIES + 1} times)")

    async def _failed(self, rec: FrameRecord, error: str) -> None:
        self.metrics.decode_failed.inc()
        log.warning("frame %s/%d does not decode: %s", rec.device_id, rec.seq, error)
        await self.index.set_decode_error(rec.device_id, rec.seq, error)
        raise DecodeFailed(error)

    async def close(self) -> None:
        """Answer every waiting request 503, then stop the workers (a running decode gets ``stop_grace_s``)."""
        self._closed = True
        for job in self._pending.values():
            job.demand = False
            if not job.future.done():
                job.future.set_exception(decode_unavailable("the server is stopping"))
        self._pending.clear()
        self._demand.clear()
        self._arrivals.clear()
        self._device_pixels.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*(p.close(self.cfg.stop_grace_s) for p in self.processes))
