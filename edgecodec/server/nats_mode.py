"""Scaled mode: the index in JetStream key-value buckets, decoding by ``edgecodec worker`` processes.

Shared by every ingest node and worker: the NATS JetStream server (buckets ``<prefix>_frames``
and ``<prefix>_devices``, work-queue stream ``<prefix>_decode``) and the data directory (a
shared filesystem: frames, PNGs, tokens.json). Idempotency across nodes comes from the
bucket's atomic create: exactly one upload of a (device, seq) wins.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, replace

import nats
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from .config import ServerConfig
from .local_decoder import DecodeFailed
from .metrics import ServerMetrics
from .records import WINDOW, FrameRecord, camera_stats
from .storage import FrameStore

log = logging.getLogger("edgecodec.nats")


def key_of(device_id: str, seq: int | None = None) -> str:
    """KV key/subject token: the device id in hex (ids may contain '.', a NATS separator)."""
    token = device_id.encode().hex()
    return token if seq is None else f"{token}.{seq}"


async def jetstream(url: str, prefix: str):
    """Connect and make sure the buckets and the decode stream exist (idempotent)."""
    nc = await nats.connect(url, name=f"{prefix}-node", max_reconnect_attempts=-1)
    js = nc.jetstream()
    frames = await js.create_key_value(bucket=f"{prefix}_frames", history=1, storage=StorageType.FILE)
    devices = await js.create_key_value(bucket=f"{prefix}_devices", history=1, storage=StorageType.FILE)
    try:
        await js.add_stream(StreamConfig(name=f"{prefix}_decode", subjects=[f"{prefix}.decode.>"],
                                         retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE))
    except BadRequestError:
        pass  # exists (possibly created by another node)
    return nc, js, frames, devices


class KvIndex:
    """The SqliteIndex interface over JetStream key-value buckets."""

    def __init__(self, nc, js, prefix: str, frames_kv, devices_kv):
        self.nc, self.js, self.prefix, self.kv, self.devices_kv = nc, js, prefix, frames_kv, devices_kv

    async def insert(self, rec: FrameRecord) -> FrameRecord | None:
        try:
            await self.kv.create(key_of(rec.device_id, rec.seq), json.dumps(asdict(rec)).encode())
        except KeyWrongLastSequenceError:
            return await self.get(rec.device_id, rec.seq)
        await self._add_to_device(rec)
        return None

    async def _add_to_device(self, rec: FrameRecord) -> None:
        key = key_of(rec.device_id)
        for _ in range(50):  # optimistic concurrency between ingest nodes
            try:
                entry = await self.devices_kv.get(key)
                doc, revision = json.loads(entry.value), entry.revision
            except KeyNotFoundError:
                doc, revision = {"device_id": rec.device_id, "frames": 0, "recent": []}, None
            doc["frames"] += 1
            recent = sorted(doc["recent"] + [asdict(rec)], key=lambda r: -r["seq"])
            doc["recent"] = recent[:WINDOW]
            try:
                if revision is None:
                    await self.devices_kv.create(key, json.dumps(doc).encode())
                else:
                    await self.devices_kv.update(key, json.dumps(doc).encode(), last=revision)
                return
            except KeyWrongLastSequenceError:
                await asyncio.sleep(0.01)
        log.error("device summary of %s not updated (contention)", rec.device_id)

    async def get(self, device_id: str, seq: int) -> FrameRecord | None:
        try:
            entry = await self.kv.get(key_of(device_id, seq))
        except KeyNotFoundError:
            return None
        return FrameRecord(**json.loads(entry.value))

    async def _scan(self, bucket: str, pattern: str) -> list[bytes]:
        """Current values of the bucket's keys matching ``pattern``, walking its stream.

        A key updated during the walk reappears at the stream's end (its old message is gone or
        already read), so the newest message of each key wins; delete and purge markers drop it.
        """
        latest: dict[str, bytes | None] = {}
        seq = 1
        while True:
            try:
                msg = await self.js.get_msg(f"KV_{bucket}", seq=seq, subject=f"$KV.{bucket}.{pattern}", next=True)
            except NotFoundError:
                return [value for value in latest.values() if value is not None]
            removed = (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE")
            latest[msg.subject] = None if removed else msg.data
            seq = msg.seq + 1

    async def frames(self, device_id: str, since_us: int, until_us: int, limit: int) -> list[FrameRecord]:
        records = [FrameRecord(**json.loads(v)) for v in await self._scan(f"{self.prefix}_frames", f"{key_of(device_id)}.*")]
        chosen = sorted((r for r in records if since_us <= r.capture_us < until_us), key=lambda r: r.seq)
        return chosen[:limit]

    async def devices(self) -> list[dict]:
        docs = [json.loads(v) for v in await self._scan(f"{self.prefix}_devices", ">")]
        return [camera_stats(d["device_id"], d["frames"], [FrameRecord(**r) for r in d["recent"]])
                for d in sorted(docs, key=lambda d: d["device_id"])]

    async def set_decode_error(self, device_id: str, seq: int, error: str) -> None:
        entry = await self.kv.get(key_of(device_id, seq))
        rec = replace(FrameRecord(**json.loads(entry.value)), decode_error=error[:500])
        await self.kv.update(key_of(device_id, seq), json.dumps(asdict(rec)).encode(), last=entry.revision)

    async def close(self) -> None:
        await self.nc.close()


class NatsDecoder:
    """Publishes decode jobs; a PNG request waits for a worker's result notification."""

    def __init__(self, nc, js, store: FrameStore, prefix: str, on_arrival: bool):
        self.nc, self.js, self.store, self.prefix, self.on_arrival = nc, js, store, prefix, on_arrival
        self._tasks: set[asyncio.Task] = set()

    async def _publish(self, rec: FrameRecord) -> None:
        job = json.dumps({"device_id": rec.device_id, "seq": rec.seq, "path": rec.path}).encode()
        await self.js.publish(f"{self.prefix}.decode.{key_of(rec.device_id)}", job)

    def on_stored(self, rec: FrameRecord) -> None:
        if self.on_arrival:
            task = asyncio.ensure_future(self._publish(rec))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def png(self, rec: FrameRecord) -> bytes:
        png_file = self.store.png_file(rec.path)
        if rec.decode_error is not None:
            raise DecodeFailed(rec.decode_error)
        if png_file.exists():
            return png_file.read_bytes()
        sub = await self.nc.subscribe(f"{self.prefix}.decoded.{key_of(rec.device_id, rec.seq)}")
        await self.nc.flush()  # the server knows the subscription before the job can finish
        try:
            if not png_file.exists():
                await self._publish(rec)
                result = json.loads((await sub.next_msg(timeout=None)).data)
                if not result["ok"]:
                    raise DecodeFailed(result["error"])
        finally:
            await sub.unsubscribe()
        return png_file.read_bytes()

    async def close(self) -> None:
        for task in list(self._tasks):
            await task


async def connect_scaled(cfg: ServerConfig, store: FrameStore, metrics: ServerMetrics):
    """The index and decoder of an ingest node in scaled mode."""
    nc, js, frames, devices = await jetstream(cfg.nats, cfg.nats_prefix)
    return KvIndex(nc, js, cfg.nats_prefix, frames, devices), NatsDecoder(nc, js, store, cfg.nats_prefix, cfg.decode_on_arrival)
