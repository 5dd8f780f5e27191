"""The read side of the HTTP API (viewer tokens only), health, metrics and the viewer page."""
from __future__ import annotations

import asyncio
from typing import Awaitable

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..common.protocol import ECB_CONTENT_TYPE, PNG_CONTENT_TYPE, parse_seq, valid_device_id
from .auth import Refused, require_viewer
from .context import CTX, ServerContext
from .integrity import drop_damaged_png, png_intact, verified_ecb
from .local_decoder import DecodeFailed
from .page import PAGE
from .query import parse_after, parse_limit, parse_window
from .records import FrameRecord
from .references import chains_missing

IMMUTABLE = {"Cache-Control": "private, max-age=31536000, immutable"}
DISCONNECT_POLL_S = 0.25  # how often a waiting PNG request checks that its client is still there


async def list_devices(request: web.Request) -> web.Response:
    ctx: ServerContext = request.app[CTX]
    require_viewer(request, ctx.tokens)
    return web.json_response({"devices": await ctx.index.devices()})


async def list_frames(request: web.Request) -> web.Response:
    ctx: ServerContext = request.app[CTX]
    require_viewer(request, ctx.tokens)
    device_id = requested_device(request)
    q = request.query
    try:
        since, until = parse_window(q.get("since"), q.get("until"))
        after, limit = parse_after(q.get("after")), parse_limit(q.get("limit", "1000"))
    except ValueError as e:
        raise Refused(400, "bad_request", str(e)) from None
    frames = await ctx.index.frames(device_id, since, until, limit + 1, after=after)  # one more: was it cut?
    truncated, frames = len(frames) > limit, frames[:limit]
    missing = await chains_missing(ctx.index, device_id, frames)
    docs = [{**f.to_json(), "reference_missing": f.seq in missing} for f in frames]
    return web.json_response({"device_id": device_id, "frames": docs, "truncated": truncated,
                              "next": frames[-1].seq if truncated else None})


async def get_ecb(request: web.Request) -> web.Response:
    ctx: ServerContext = request.app[CTX]
    rec = await requested_frame(request, ctx)
    data = await asyncio.get_running_loop().run_in_executor(None, verified_ecb, ctx.store, rec)
    return web.Response(body=data, content_type=ECB_CONTENT_TYPE, headers=IMMUTABLE)


async def get_png(request: web.Request) -> web.Response:
    ctx: ServerContext = request.app[CTX]
    png = await decoded_png(request, ctx, await requested_frame(request, ctx))
    return web.Response(body=png, content_type=PNG_CONTENT_TYPE, headers=IMMUTABLE)


async def decoded_png(request: web.Request, ctx: ServerContext, rec: FrameRecord) -> bytes:
    """The frame's PNG from the decoder (cached), checked; Refused 422, 424, 429, 503 or 504 (docs/api.md)."""
    try:
        png = await while_connected(request, ctx.decoder.png(rec), ctx.cfg.decode_timeout_s)
    except DecodeFailed as e:
        raise Refused(422, "decode_failed", f"frame does not decode: {e}") from None
    except asyncio.TimeoutError:
        raise Refused(504, "decode_timeout", "decoding took too long; try again") from None
    if not await asyncio.get_running_loop().run_in_executor(None, png_intact, png):
        raise drop_damaged_png(ctx.store, rec)
    return png


async def while_connected(request: web.Request, work: Awaitable[bytes], timeout: float) -> bytes:
    """Await ``work`` until it is done, ``timeout`` passes (TimeoutError) or the client closes its
    connection (Refused 499); leaving cancels it, so a decode nobody waits for is dropped before it starts."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while not task.done():
            if request.transport is None or request.transport.is_closing():
                raise Refused(499, "client_gone", "the client left before its answer was ready")
            if loop.time() >= deadline:
                raise asyncio.TimeoutError
            await asyncio.wait({task}, timeout=min(DISCONNECT_POLL_S, deadline - loop.time()))
        return task.result()
    finally:
        task.cancel()


async def requested_frame(request: web.Request, ctx: ServerContext) -> FrameRecord:
    """The frame named by the URL (viewer token); Refused 400, 401, 403 or 404."""
    require_viewer(request, ctx.tokens)
    device_id = requested_device(request)
    try:
        seq = parse_seq(request.match_info["seq"])
    except ValueError as e:
        raise Refused(400, "bad_request", str(e)) from None
    rec = await ctx.index.get(device_id, seq)
    if rec is None:
        raise Refused(404, "not_found", f"no frame {seq} of {device_id}")
    return rec


def requested_device(request: web.Request) -> str:
    """The URL's device id; Refused 400 when it is not a valid name."""
    device_id = request.match_info["device_id"]
    if not valid_device_id(device_id):
        raise Refused(400, "bad_device_id", "invalid device id")
    return device_id


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def metrics(request: web.Request) -> web.Response:
    ctx: ServerContext = request.app[CTX]
    return web.Response(body=generate_latest(ctx.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html",
                        headers={"Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; "
                                 "script-src 'unsafe-inline'; style-src 'unsafe-inline'",
                                 "Referrer-Policy": "no-referrer"})
