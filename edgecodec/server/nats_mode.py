"""Scaled mode: the index in JetStream key-value buckets, decoding by ``edgecodec worker`` processes.

Shared by every ingest node and worker: the NATS JetStream server (buckets ``<prefix>_frames``
and ``<prefix>_devices``, work-queue stream ``<prefix>_decode``) and the data directory (a
shared filesystem: frames, PNGs, tokens.json). Idempotency across nodes comes from the
bucket's atomic create: exactly one upload of a (device, seq) wins. Nothing read from JetStream
is trusted as a file path: paths are derived from (device, seq, SHA-256).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import nats
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from ..errors import message_line
from .auth import Refused
from .config import ServerConfig
from .local_decoder import DecodeFailed, decode_unavailable
from .metrics import ServerMetrics
from .records import WINDOW, FrameRecord, camera_stats
from .references import BadReference, references_of
from .storage import FrameStore

log = logging.getLogger("edgecodec.nats")
PASSWORD_FILE_ENV = "EDGECODEC_NATS_PASSWORD_FILE"
CAS_TRIES = 50  # compare-and-set attempts against other nodes' concurrent updates of one key


def key_of(device_id: str, seq: int | None = None) -> str:
    """KV key/subject token: the device id in hex (ids may contain '.', a NATS separator)."""
    token = device_id.encode().hex()
    return token if seq is None else f"{token}.{seq}"


def credentials(url: str) -> dict:
    """User and password for ``nats.connect`` when $EDGECODEC_NATS_PASSWORD_FILE names a file
    holding the password (the user is the URL's: nats://USER@host:4222), so that no password
    appears in a command line; {} when it is unset."""
    path = os.environ.get(PASSWORD_FILE_ENV)
    if not path:
        return {}
    user = urlparse(url).username
    if not user:
        raise ValueError(f"{PASSWORD_FILE_ENV} is set but the NATS URL names no user (nats://USER@host:4222)")
    password = Path(path).read_text().rstrip("\r\n")
    if not password:
        raise ValueError(f"{path} ({PASSWORD_FILE_ENV}) holds no password")
    return {"user": user, "password": password}


async def _nats_error(error: Exception) -> None:
    """A connection problem (refused, wrong credentials, ...): logged in one line; nats-py retries."""
    log.warning("NATS: %s", message_line(error))


async def jetstream(url: str, prefix: str):
    """Connect and make sure the buckets and the decode stream exist (idempotent)."""
    nc = await nats.connect(url, name=f"{prefix}-node", max_reconnect_attempts=-1, error_cb=_nats_error,
                            **credentials(url))
    js = nc.jetstream()
    frames = await js.create_key_value(bucket=f"{prefix}_frames", history=1, storage=StorageType.FILE)
    devices = await js.create_key_value(bucket=f"{prefix}_devices", history=1, storage=StorageType.FILE)
    try:
        await js.add_stream(StreamConfig(name=f"{prefix}_decode", subjects=[f"{prefix}.decode.>"],
                                         retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE))
    except BadRequestError:
        pass  # exists (possibly created by another node)
    return nc, js, frames, devices


def frame_record(doc: dict, device_id: str, seq: int) -> FrameRecord:
    """The index entry of (device_id, seq) as a FrameRecord whose path is derived from (device, seq,
    SHA-256), never read from the entry; ValueError when the entry is not that frame's."""
    if not isinstance(doc, dict) or doc.get("device_id") != device_id or doc.get("seq") != seq:
        raise ValueError(f"the index entry of {device_id}/{seq} names another frame")
    fields = {**doc, "path": FrameStore.relative_path(device_id, seq, doc.get("sha256"))}
    try:
        return FrameRecord(**fields)
    except TypeError:
        raise ValueError(f"the index entry of {device_id}/{seq} has unknown or missing fields") from None


class KvIndex:
    """The SqliteIndex interface over JetStream key-value buckets."""

    def __init__(self, nc, js, prefix: str, frames_kv, devices_kv):
        self.nc, self.js, self.prefix, self.kv, self.devices_kv = nc, js, prefix, frames_kv, devices_kv

    async def insert(self, rec: FrameRecord) -> FrameRecord | None:
        try:
            await self.kv.create(key_of(rec.device_id, rec.seq), json.dumps(asdict(rec)).encode())
        except KeyWrongLastSequenceError:
            return await self._entry(rec.device_id, rec.seq)
        await self._add_to_device(rec)
        return None

    async def _compare_and_set(self, kv, key: str, change: Callable[[dict | None], dict | None]) -> bool:
        """Write ``change(current document or None)`` unless it is None, retried while other nodes
        update the key; False after CAS_TRIES lost races."""
        for _ in range(CAS_TRIES):
            try:
                entry = await kv.get(key)
                doc, revision = json.loads(entry.value), entry.revision
            except KeyNotFoundError:
                doc, revision = None, None
            new = change(doc)
            if new is None:
                return True
            try:
                if revision is None:
                    await kv.create(key, json.dumps(new).encode())
                else:
                    await kv.update(key, json.dumps(new).encode(), last=revision)
                return True
            except KeyWrongLastSequenceError:
                await asyncio.sleep(0.01)
        return False

    async def _add_to_device(self, rec: FrameRecord) -> None:
        def add(doc: dict | None) -> dict:
            doc = doc or {"device_id": rec.device_id, "frames": 0, "recent": []}
            recent = sorted(doc["recent"] + [asdict(rec)], key=lambda r: -r["seq"])
            return {**doc, "frames": doc["frames"] + 1, "recent": recent[:WINDOW]}

        if not await self._compare_and_set(self.devices_kv, key_of(rec.device_id), add):
            log.error("device summary of %s not updated (contention)", rec.device_id)

    async def _entry(self, device_id: str, seq: int) -> FrameRecord | None:
        """The frame's entry; ValueError when it is not a valid entry of that frame."""
        try:
            entry = await self.kv.get(key_of(device_id, seq))
        except KeyNotFoundError:
            return None
        return frame_record(json.loads(entry.value), device_id, seq)

    async def get(self, device_id: str, seq: int) -> FrameRecord | None:
        """The frame, or None (an invalid entry is logged and counts as none)."""
        try:
            return await self._entry(device_id, seq)
        except ValueError as e:
            log.error("index entry ignored: %s", message_line(e))
            return None

    async def get_many(self, device_id: str, seqs: list[int]) -> dict[int, FrameRecord]:
        """The device's stored frames among ``seqs``, by seq."""
        unique = sorted(set(seqs))
        found = await asyncio.gather(*(self.get(device_id, seq) for seq in unique))
        return {seq: rec for seq, rec in zip(unique, found) if rec is not None}

    async def _scan(self, bucket: str, pattern: str) -> list[tuple[str, bytes]]:
        """(key, current value) of the bucket's keys matching ``pattern``, walking its stream.

        A key updated during the walk reappears at the stream's end (its old message is gone or
        already read), so the newest message of each key wins; delete and purge markers drop it.
        """
        latest: dict[str, bytes | None] = {}
        seq = 1
        while True:
            try:
                msg = await self.js.get_msg(f"KV_{bucket}", seq=seq, subject=f"$KV.{bucket}.{pattern}", next=True)
            except NotFoundError:
                return [(key, value) for key, value in latest.items() if value is not None]
            removed = (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE")
            latest[msg.subject.removeprefix(f"$KV.{bucket}.")] = None if removed else msg.data
            seq = msg.seq + 1

    async def frames(self, device_id: str, since_us: int, until_us: int, limit: int,
                     after: int = -1) -> list[FrameRecord]:
        """The first ``limit`` frames captured in [since, until) whose seq is above ``after``, in sequence order."""
        records = []
        for key, value in await self._scan(f"{self.prefix}_frames", f"{key_of(device_id)}.*"):
            try:
                records.append(frame_record(json.loads(value), device_id, int(key.rsplit(".", 1)[1])))
            except ValueError as e:
                log.error("index entry ignored: %s", message_line(e))
        chosen = sorted((r for r in records if r.seq > after and since_us <= r.capture_us < until_us),
                        key=lambda r: r.seq)
        return chosen[:limit]

    async def latest(self, device_id: str) -> FrameRecord | None:
        """The device's frame with the highest sequence number (from its summary's newest frames), or None."""
        try:
            entry = await self.devices_kv.get(key_of(device_id))
            recent = json.loads(entry.value)["recent"]
        except KeyNotFoundError:
            return None
        return await self.get(device_id, recent[0]["seq"]) if recent else None

    async def devices(self) -> list[dict]:
        cameras = []
        for key, value in sorted(await self._scan(f"{self.prefix}_devices", ">")):
            try:
                cameras.append(device_summary(key, json.loads(value)))
            except (ValueError, KeyError, TypeError) as e:
                log.error("device summary %s ignored: %s", key[:130], message_line(e))
        return sorted(cameras, key=lambda c: c["device_id"])

    async def set_decode_error(self, device_id: str, seq: int, error: str) -> None:
        """Record that the frame does not decode (nothing when its entry is gone: it was pruned)."""
        def mark(doc: dict | None) -> dict | None:
            if doc is None or doc.get("decode_error") == error[:500]:
                return None
            return {**doc, "decode_error": error[:500]}

        if not await self._compare_and_set(self.kv, key_of(device_id, seq), mark):
            log.error("decode error of %s/%d not recorded (contention)", device_id, seq)

    async def close(self) -> None:
        await self.nc.close()


def device_summary(key: str, doc: dict) -> dict:
    """A camera's statistics from its summary document under ``key`` (ValueError when they disagree)."""
    device_id = bytes.fromhex(key).decode()
    if doc["device_id"] != device_id:
        raise ValueError(f"the summary of {device_id} names {str(doc['device_id'])[:64]}")
    recent = [frame_record(r, device_id, r.get("seq")) for r in doc["recent"]]
    return camera_stats(device_id, doc["frames"], recent)


class NatsDecoder:
    """Publishes decode jobs; a PNG request waits for a worker's result notification."""

    def __init__(self, nc, js, store: FrameStore, prefix: str, on_arrival: bool, index: KvIndex,
                 metrics: ServerMetrics):
        self.nc, self.js, self.store, self.prefix, self.on_arrival = nc, js, store, prefix, on_arrival
        self.index, self.metrics = index, metrics
        self._tasks: set[asyncio.Task] = set()

    async def _publish(self, rec: FrameRecord) -> None:
        job = json.dumps({"device_id": rec.device_id, "seq": rec.seq}).encode()
        await self.js.publish(f"{self.prefix}.decode.{key_of(rec.device_id)}", job)

    def on_stored(self, rec: FrameRecord) -> None:
        if self.on_arrival:
            task = asyncio.ensure_future(self._publish(rec))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def png(self, rec: FrameRecord) -> bytes:
        """The frame's PNG; DecodeFailed (recorded for good) or Refused 503 (may work later)."""
        if rec.decode_error is not None:
            raise DecodeFailed(rec.decode_error)
        png_file = self.store.png_file(rec.path)
        if png_file.exists():
            return png_file.read_bytes()
        try:
            await references_of(self.index, rec)  # a missing or bad reference is answered here, not by a worker
        except Refused:
            self.metrics.reference_missing.inc()
            raise
        except BadReference as e:
            await self.index.set_decode_error(rec.device_id, rec.seq, message_line(e))
            raise DecodeFailed(message_line(e)) from None
        sub = await self.nc.subscribe(f"{self.prefix}.decoded.{key_of(rec.device_id, rec.seq)}")
        await self.nc.flush()  # the server knows the subscription before the job can finish
        try:
            if not png_file.exists():
                await self._publish(rec)
                result = json.loads((await sub.next_msg(timeout=None)).data)
                if not result["ok"]:
                    raise DecodeFailed(result["error"]) if result["permanent"] else decode_unavailable(result["error"])
        finally:
            await sub.unsubscribe()
        return png_file.read_bytes()

    async def close(self) -> None:
        for task in list(self._tasks):
            await task


async def connect_scaled(cfg: ServerConfig, store: FrameStore, metrics: ServerMetrics):
    """The index and decoder of an ingest node in scaled mode."""
    nc, js, frames, devices = await jetstream(cfg.nats, cfg.nats_prefix)
    index = KvIndex(nc, js, cfg.nats_prefix, frames, devices)
    return index, NatsDecoder(nc, js, store, cfg.nats_prefix, cfg.decode_on_arrival, index, metrics)
