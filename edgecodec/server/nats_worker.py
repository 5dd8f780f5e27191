"""``edgecodec worker``: pull decode jobs from JetStream, decode from the shared data directory."""
from __future__ import annotations

import asyncio
import json
import logging
import signal

from nats.errors import TimeoutError as NatsTimeout

from . import decode_job
from .nats_mode import KvIndex, jetstream, key_of
from .storage import FrameStore

log = logging.getLogger("edgecodec.worker")


async def run_worker(url: str, data: str, model: str | None, backend: str, prefix: str = "edgecodec") -> None:
    """Decode jobs one at a time until SIGTERM (run more workers for more throughput)."""
    await asyncio.get_running_loop().run_in_executor(None, decode_job.init_worker, model, backend)
    nc, js, frames, devices = await jetstream(url, prefix)
    index, store = KvIndex(nc, js, prefix, frames, devices), FrameStore(data)
    sub = await js.pull_subscribe(f"{prefix}.decode.>", durable=f"{prefix}_decoders", stream=f"{prefix}_decode")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    log.info("decode worker ready, model %s", decode_job.model_id_hex())
    while not stop.is_set():
        try:
            msgs = await sub.fetch(1, timeout=1.0)
        except NatsTimeout:
            continue
        for msg in msgs:
            await handle(json.loads(msg.data), index, store, nc, prefix)
            await msg.ack()
    await index.close()


async def handle(job: dict, index: KvIndex, store: FrameStore, nc, prefix: str) -> None:
    """Decode one job (unless done already), record a failure, notify waiting ingest nodes."""
    png_file = store.png_file(job["path"])
    result = {"ok": True, "error": None}
    if not png_file.exists():
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, decode_job.decode_to_png, str(store.ecb_file(job["path"])), str(png_file))
        except (ValueError, OSError, RuntimeError) as e:
            error = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.warning("frame %s/%d does not decode: %s", job["device_id"], job["seq"], error)
            await index.set_decode_error(job["device_id"], job["seq"], error)
            result = {"ok": False, "error": error}
    await nc.publish(f"{prefix}.decoded.{key_of(job['device_id'], job['seq'])}", json.dumps(result).encode())
