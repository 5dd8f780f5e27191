"""``POST /api/v1/devices/{device_id}/frames/{seq}``: validate everything, store durably, then acknowledge.

201: stored now; 200: already stored with the same bytes; 409: that seq holds other bytes.
Refusals (401, 403, 400, 413, 422) store nothing. A delta frame is stored whether or not its key
frame arrived (uploads after an outage come in any order); its reference is checked when it is
decoded (server/references.py).
"""
from __future__ import annotations

import asyncio
import hashlib
import time

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..codec import bitstream
from ..common.protocol import CAPTURE_HEADER, parse_capture_us, parse_seq, valid_device_id
from .auth import Refused, principal
from .context import CTX, ServerContext
from .http_errors import describe
from .records import FrameRecord

BODY_TIMEOUT_S = 120.0  # a stalled upload frees its connection (200 KB at 16 kbit/s takes 100 s)


async def post_frame(request: web.Request) -> web.Response:
    ctx: ServerContext = request.app[CTX]
    t0 = time.perf_counter()
    who = principal(request, ctx.tokens)
    device_id = request.match_info["device_id"]
    if not valid_device_id(device_id):
        raise Refused(400, "bad_device_id", "invalid device id")
    if who.role != "device" or who.name != device_id:
        raise Refused(403, "forbidden", f"this token may not write as device {device_id!r}")
    try:
        seq = parse_seq(request.match_info["seq"])
        capture_us = parse_capture_us(request.headers.get(CAPTURE_HEADER, str(time.time_ns() // 1000)))
    except ValueError as e:
        raise Refused(400, "bad_request", str(e)) from None
    data = await _read_body(request, ctx.cfg.max_body_bytes)
    try:
        header = bitstream.unpack(data, ctx.cfg.max_pixels).header
    except bitstream.BitstreamError as e:
        raise Refused(422, "bad_bitstream", f"not a valid .ecb frame: {e}") from None
    if header.is_delta and header.seq != seq:  # its reference is relative to the seq it was coded as
        raise Refused(422, "seq_mismatch", f"a delta frame coded as frame {header.seq} uploaded as frame {seq}")
    sha = hashlib.sha256(data).hexdigest()
    existing = await ctx.index.get(device_id, seq)
    if existing is None:
        rel = await asyncio.get_running_loop().run_in_executor(None, ctx.store.write, device_id, seq, sha, data)
        rec = FrameRecord.of(header, device_id, seq, sha, len(data), rel, capture_us, time.time_ns() // 1000)
        existing = await ctx.index.insert(rec)
        if existing is None:
            ctx.metrics.stored.inc()
            ctx.metrics.frame_arrived(device_id, rec.received_us)
            ctx.metrics.ingest_seconds.observe(time.perf_counter() - t0)
            ctx.decoder.on_stored(rec)
            return web.json_response({"status": "stored", **rec.to_json()}, status=201)
        if existing.path != rel:  # lost a race against a different upload of this seq
            await asyncio.get_running_loop().run_in_executor(None, ctx.store.remove, rel)
    return _repeat(ctx, existing, sha)


def _repeat(ctx: ServerContext, existing: FrameRecord, sha: str) -> web.Response:
    if sha == existing.sha256:
        ctx.metrics.duplicates.inc()
        return web.json_response({"status": "exists", **existing.to_json()}, status=200)
    raise Refused(409, "conflict", f"frame {existing.seq} of {existing.device_id} is already stored "
                                   "with different bytes")


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refused when over ``limit`` bytes or slower than BODY_TIMEOUT_S in all."""
    if request.content_length is not None and request.content_length > limit:
        raise Refused(413, "too_large", f"body of {request.content_length} bytes exceeds {limit}")

    async def collect() -> bytes:
        chunks, size = [], 0
        async for chunk in request.content.iter_chunked(65536):
            size += len(chunk)
            if size > limit:
                raise Refused(413, "too_large", f"body exceeds {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(collect(), BODY_TIMEOUT_S)
    except asyncio.TimeoutError:  # Python 3.10's is not the builtin TimeoutError
        raise Refused(408, "timeout", f"body not received within {BODY_TIMEOUT_S:g} s") from None
    except ConnectionResetError:  # the client went away mid-body: counted, nobody to answer
        raise Refused(400, "truncated", "the connection closed before the whole body arrived") from None
    except (HttpProcessingError, web.RequestPayloadError) as e:  # e.g. a body that does not decompress
        raise Refused(400, "malformed_request", f"malformed HTTP request ({describe(e)})") from None
