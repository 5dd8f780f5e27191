"""``edgecodec worker``: pull decode jobs from JetStream, decode from the shared data directory.

A job names only (device, seq): the frame's index entry gives its hash, and its paths are derived
from the three. No job ends the worker: a job that fails is redelivered, and one delivered more
than MAX_DELIVERIES times (its workers died or failed on it) marks its frame as failed and is
terminated. Only failures that will recur are recorded (see decode_job); others are reported
to the waiting request (503) and the next request tries again.
"""
from __future__ import annotations

import asyncio
import json
import logging
import signal
from typing import Awaitable, TypeVar

from nats.errors import TimeoutError as NatsTimeout

from ..codec.bitstream import DEFAULT_MAX_PIXELS
from ..common.protocol import MAX_SEQ, valid_device_id
from ..errors import message_line
from . import decode_job
from .auth import Refused
from .nats_mode import KvIndex, jetstream, key_of
from .references import chain_files, references_of
from .storage import FrameStore

log = logging.getLogger("edgecodec.worker")
MAX_DELIVERIES = 3
PROGRESS_S = 10.0  # "still working" to JetStream, well within its 30 s acknowledgement wait
RETRY_DELAY_S = 5.0  # before a failed job is delivered again
T = TypeVar("T")


async def run_worker(url: str, data: str, model: str | None, backend: str, prefix: str = "edgecodec",
                     max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
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
            await process(msg, index, store, nc, prefix, max_pixels)
    await index.close()


def parse_job(data: bytes) -> tuple[str, int]:
    """(device id, seq) of a job; ValueError when it is not a valid job."""
    try:
        job = json.loads(data)
    except ValueError:
        job = None
    device_id, seq = (job.get("device_id"), job.get("seq")) if isinstance(job, dict) else (None, None)
    if not valid_device_id(device_id) or type(seq) is not int or not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"not a decode job: {bytes(data[:100])!r}")
    return device_id, seq


async def process(msg, index: KvIndex, store: FrameStore, nc, prefix: str,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Handle one delivered job, notify waiting ingest nodes and acknowledge; whatever goes wrong
    ends the job (delivered again later, or dropped when malformed), never the worker."""
    try:
        device_id, seq = parse_job(msg.data)
    except ValueError as e:
        log.error("decode job dropped: %s", message_line(e))
        await settle(msg.term(), "(malformed)")
        return
    exhausted = msg.metadata.num_delivered > MAX_DELIVERIES
    try:
        if exhausted:
            result = await give_up(index, device_id, seq)
        else:
            result = await with_progress(msg, handle(index, store, device_id, seq, max_pixels))
        await nc.publish(f"{prefix}.decoded.{key_of(device_id, seq)}", json.dumps(result).encode())
    except Exception as e:  # a NATS or file-system error: the job is delivered again, to any worker
        log.error("decode job %s/%d failed (to be retried): %s", device_id, seq, message_line(e))
        await settle(msg.nak(delay=RETRY_DELAY_S), f"{device_id}/{seq}")
        return
    await settle(msg.term() if exhausted else msg.ack(), f"{device_id}/{seq}")


async def settle(reply: Awaitable[None], job: str) -> None:
    """Send a job's ack, nak or term; when that fails, JetStream delivers the job again later."""
    try:
        await reply
    except Exception as e:
        log.error("decode job %s not acknowledged (delivered again later): %s", job, message_line(e))


async def with_progress(msg, work: Awaitable[T]) -> T:
    """Await ``work``, telling JetStream every PROGRESS_S that the job is still in progress (so a
    long decode is not delivered to another worker meanwhile)."""
    task = asyncio.ensure_future(work)
    while not (await asyncio.wait({task}, timeout=PROGRESS_S))[0]:
        await msg.in_progress()
    return task.result()


def outcome(error: str | None = None, permanent: bool = False) -> dict:
    """The notification of a finished job: {"ok", "error", "permanent"} (permanent: recorded)."""
    return {"ok": error is None, "error": error, "permanent": permanent}


async def handle(index: KvIndex, store: FrameStore, device_id: str, seq: int,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
    """Decode the frame unless that is done already; a failure that will recur is recorded."""
    rec = await index.get(device_id, seq)
    if rec is None:
        log.info("frame %s/%d is not in the index (pruned?): nothing to decode", device_id, seq)
        return outcome(f"frame {seq} of {device_id} is not in the index (pruned?)", permanent=True)
    if rec.decode_error is not None:
        return outcome(rec.decode_error, permanent=True)
    png_file = store.png_file(rec.path)
    if png_file.exists():
        return outcome()
    try:
        chain = chain_files(store, await references_of(index, rec))
        await asyncio.get_running_loop().run_in_executor(
            None, decode_job.decode_to_png, str(store.ecb_file(rec.path)), str(png_file), rec.sha256, chain,
            max_pixels)
    except Refused as e:  # a reference has not arrived: not recorded, a later request tries again
        return outcome(e.message)
    except ValueError as e:
        log.warning("frame %s/%d does not decode: %s", device_id, seq, message_line(e))
        await index.set_decode_error(device_id, seq, message_line(e))
        return outcome(message_line(e), permanent=True)
    except Exception as e:  # OSError, MemoryError, RuntimeError...: may work next time
        log.warning("frame %s/%d not decoded for now: %s", device_id, seq, message_line(e))
        return outcome(message_line(e))
    return outcome()


async def give_up(index: KvIndex, device_id: str, seq: int) -> dict:
    """The job was delivered too often: its frame is recorded as failed."""
    error = f"no decode worker finished this frame in {MAX_DELIVERIES} attempts (each died or failed)"
    log.error("frame %s/%d: %s", device_id, seq, error)
    await index.set_decode_error(device_id, seq, error)
    return outcome(error, permanent=True)
