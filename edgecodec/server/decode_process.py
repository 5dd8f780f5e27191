"""One decode worker process of the embedded server (a one-process pool, so that a crash, a recycle
or a stop concerns exactly one frame and one process).

The process dies with the server (see ``decode_job.die_with_parent``), is replaced after
``max_jobs`` decodes or once its peak resident memory passed ``max_rss`` bytes (leaks and memory
spikes end with the process), and a stop waits for its running decode only ``grace_s`` seconds.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from . import decode_job
from .metrics import ServerMetrics

log = logging.getLogger("edgecodec.decode")


class DecodeProcess:
    """A worker process that decodes one frame at a time; ``decode`` raises BrokenProcessPool when the
    process died on it (the next call starts a fresh one)."""

    def __init__(self, model: str | None, backend: str, max_jobs: int, max_rss: int, metrics: ServerMetrics):
        self.model, self.backend, self.max_jobs, self.max_rss = model, backend, max_jobs, max_rss
        self.metrics = metrics
        self.jobs = 0
        self.pid: int | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._ready: asyncio.Future | None = None  # the start of the current process

    async def start(self) -> str:
        """Start the process if it is not running; returns its model id once loaded."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._spawn())
        ready = self._ready
        try:
            return await asyncio.shield(ready)
        except BaseException:
            if ready.done() and ready is self._ready:
                self._retire()  # a failed start is retried by the next call
            raise

    async def _spawn(self) -> str:
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=decode_job.init_pool_worker,
                                         initargs=(os.getpid(), self.model, self.backend))
        self.jobs = 0
        self.pid, model_id = await self._call(self._pool, decode_job.identify)
        return model_id

    @staticmethod
    def _call(pool: ProcessPoolExecutor, fn: Callable, *args: Any) -> asyncio.Future:
        return asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def decode(self, ecb_file: str, png_file: str, sha256: str, chain: list[tuple[str, str]],
                     max_pixels: int) -> None:
        """decode_job.decode_to_png in this process; afterwards, replace it if it is worn out."""
        try:
            await self.start()
        except BrokenProcessPool:  # not this frame's fault: the initializer failed (its error is logged)
            raise RuntimeError("the decode worker process did not start") from None
        try:
            rss = await self._call(self._pool, decode_job.decode_and_measure, ecb_file, png_file, sha256, chain,
                                   max_pixels)
        except BrokenProcessPool:
            self._retire()
            raise
        self.jobs += 1
        if self.jobs >= self.max_jobs or rss > self.max_rss:
            log.info("replacing decode worker %s after %d decode(s), peak memory %d MiB", self.pid, self.jobs,
                     rss >> 20)
            self.metrics.workers_recycled.inc()
            self._retire()
            self._ready = asyncio.ensure_future(self._spawn())  # the replacement loads its model now

    def _retire(self) -> None:
        """Let the current process exit once idle (at once when it is dead)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        self._pool, self._ready, self.pid = None, None, None

    async def close(self, grace_s: float) -> None:
        """Stop the process: a running decode may finish within ``grace_s`` seconds, then it is killed."""
        pool, pid, ready = self._pool, self.pid, self._ready
        self._pool, self._ready, self.pid = None, None, None
        if ready is not None and not ready.done():
            ready.cancel()
        if pool is None:
            return
        stopped = asyncio.get_running_loop().run_in_executor(None, lambda: pool.shutdown(cancel_futures=True))
        try:
            await asyncio.wait_for(asyncio.shield(stopped), grace_s)
        except asyncio.TimeoutError:
            if pid is not None:
                log.warning("decode worker %d still busy after %g s: killed", pid, grace_s)
                os.kill(pid, signal.SIGKILL)
            await stopped
