"""JPEG snapshots: a frame's decode (the PNG path, its errors included) scaled to ``?h=`` rows and JPEG-encoded.

For thumbnails, the viewer's player and HTTP snapshot sources (go2rtc, Frigate): a 320-pixel thumbnail of a
1280x720 frame is a few KB instead of the full-size PNG. Snapshots are kept in a small in-memory cache
(frames never change), so a replayed or shared frame is scaled and encoded once.
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict

import cv2
import numpy as np
from aiohttp import web

from ..common.protocol import FRAME_JPG, JPEG_CONTENT_TYPE, LATEST_JPG
from .api import IMMUTABLE, decoded_png, requested_device, requested_frame
from .auth import Refused, require_viewer
from .context import CTX, ServerContext
from .http_errors import NO_STORE
from .records import FrameRecord

JPEG_QUALITY = 85
MAX_HEIGHT = 2160
CACHE_BYTES = 32 << 20


class SnapshotCache:
    """JPEG bytes by (device, seq, height or None for full size), least recently used dropped beyond ``limit`` bytes."""

    def __init__(self, limit: int = CACHE_BYTES):
        self.limit, self.size, self.entries = limit, 0, OrderedDict()

    def get(self, key: tuple[str, int, int | None]) -> bytes | None:
        data = self.entries.get(key)
        if data is not None:
            self.entries.move_to_end(key)
        return data

    def put(self, key: tuple[str, int, int | None], data: bytes) -> None:
        if key in self.entries or len(data) > self.limit:
            return
        self.entries[key] = data
        self.size += len(data)
        while self.size > self.limit:
            self.size -= len(self.entries.popitem(last=False)[1])


SNAPSHOTS = web.AppKey("snapshots", SnapshotCache)


def add_routes(app: web.Application) -> None:
    """Register frames/{seq}.jpg and latest.jpg, with their cache."""
    app[SNAPSHOTS] = SnapshotCache()
    app.router.add_get(FRAME_JPG, get_frame_jpg)
    app.router.add_get(LATEST_JPG, get_latest_jpg)


def parse_height(text: str | None) -> int | None:
    """``h``: rows of the snapshot, 1..MAX_HEIGHT (None: full size); ValueError otherwise."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 4 and 1 <= int(text) <= MAX_HEIGHT):
        raise ValueError(f"h must be an integer 1..{MAX_HEIGHT} (rows of the snapshot)")
    return int(text)


def jpeg_snapshot(png: bytes, height: int | None) -> bytes:
    """The image scaled to ``height`` rows (aspect kept, never enlarged) as a JPEG of quality JPEG_QUALITY."""
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("the decode is not a readable image")
    rows, cols = img.shape[:2]
    if height is not None and height < rows:
        img = cv2.resize(img, (max(1, round(cols * height / rows)), height), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return jpeg.tobytes()


async def get_frame_jpg(request: web.Request) -> web.Response:
    ctx: ServerContext = request.app[CTX]
    rec = await requested_frame(request, ctx)
    height = _height(request)
    return _jpeg(await _snapshot(request, ctx, rec, height), IMMUTABLE)


async def get_latest_jpg(request: web.Request) -> web.Response:
    """The snapshot of the camera's frame with the highest sequence number (served directly, for snapshot
    sources that do not follow redirects); 404 while it has none."""
    ctx: ServerContext = request.app[CTX]
    require_viewer(request, ctx.tokens)
    device_id = requested_device(request)
    height = _height(request)
    rec = await ctx.index.latest(device_id)
    if rec is None:
        raise Refused(404, "not_found", f"no frames of {device_id}")
    return _jpeg(await _snapshot(request, ctx, rec, height), {**NO_STORE, "X-Edgecodec-Seq": str(rec.seq)})


async def _snapshot(request: web.Request, ctx: ServerContext, rec: FrameRecord, height: int | None) -> bytes:
    height = height if height is not None and height < rec.height else None  # the same image: one entry
    cache, key = request.app[SNAPSHOTS], (rec.device_id, rec.seq, height)
    jpeg = cache.get(key)
    if jpeg is None:
        png = await decoded_png(request, ctx, rec)
        jpeg = await asyncio.get_running_loop().run_in_executor(None, jpeg_snapshot, png, height)
        cache.put(key, jpeg)
    return jpeg


def _height(request: web.Request) -> int | None:
    try:
        return parse_height(request.query.get("h"))
    except ValueError as e:
        raise Refused(400, "bad_request", str(e)) from None


def _jpeg(body: bytes, headers: dict[str, str]) -> web.Response:
    return web.Response(body=body, content_type=JPEG_CONTENT_TYPE, headers=headers)
