"""The aiohttp application and the ``serve`` loop (embedded or scaled mode)."""
from __future__ import annotations

import asyncio
import logging
import signal
import ssl

from aiohttp import web

from ..common.protocol import DEVICES, FRAME, FRAME_ECB, FRAME_PNG, FRAMES, HEALTH, METRICS, PAGE
from . import api, ingest, snapshots
from .access_log import access_log_options
from .auth import Refused
from .config import ServerConfig
from .context import CTX, ServerContext
from .http_errors import NO_STORE, ServerRunner
from .metrics import ServerMetrics
from .storage import FrameStore
from .tokens import TokenStore

log = logging.getLogger("edgecodec.server")


@web.middleware
async def refusals(request: web.Request, handler) -> web.StreamResponse:
    """Refused, and aiohttp's own 4xx/5xx (unknown path, method), -> a JSON error with its status,
    never cached, and a counted reason."""
    try:
        return await handler(request)
    except Refused as e:
        request.app[CTX].metrics.rejected.labels(e.reason).inc()
        headers = {"WWW-Authenticate": 'Bearer realm="edgecodec"'} if e.status == 401 else {}
        return web.json_response({"error": e.message, "reason": e.reason}, status=e.status,
                                 headers={**NO_STORE, **headers, **e.headers})
    except web.HTTPError as e:
        reason = e.reason.lower().replace(" ", "_")
        request.app[CTX].metrics.rejected.labels(reason).inc()
        headers = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else {}
        return web.json_response({"error": e.reason, "reason": reason}, status=e.status,
                                 headers={**NO_STORE, **headers})


def build_app(ctx: ServerContext) -> web.Application:
    """Routes of the versioned API, health, metrics and the viewer page."""
    app = web.Application(middlewares=[refusals], client_max_size=ctx.cfg.max_body_bytes)
    app[CTX] = ctx
    app.router.add_post(FRAME, ingest.post_frame)
    app.router.add_get(FRAME_ECB, api.get_ecb)
    app.router.add_get(FRAME_PNG, api.get_png)
    snapshots.add_routes(app)
    app.router.add_get(FRAMES, api.list_frames)
    app.router.add_get(DEVICES, api.list_devices)
    app.router.add_get(HEALTH, api.healthz)
    app.router.add_get(METRICS, api.metrics)
    app.router.add_get(PAGE, api.page)
    return app


async def open_context(cfg: ServerConfig) -> ServerContext:
    """Storage, tokens, and the index and decoder of the configured mode."""
    store, metrics = FrameStore(cfg.data), ServerMetrics()
    if cfg.nats:
        from .nats_mode import connect_scaled

        index, decoder = await connect_scaled(cfg, store, metrics)
    else:
        from .local_decoder import LocalDecoder
        from .sqlite_index import SqliteIndex
        from .sweep import stopped_cleanly, sweep

        index = SqliteIndex(cfg.data)
        if not stopped_cleanly(cfg.data):
            await sweep(store, index, metrics, cfg.max_pixels)
        decoder = None
        if cfg.decode_workers:
            decoder = LocalDecoder(store, index, metrics, cfg)
            await decoder.start()
    for camera in await index.devices():  # "camera offline" alerts hold across a restart
        if camera["latest"] is not None:
            metrics.frame_arrived(camera["device_id"], camera["latest"]["received_us"])
    return ServerContext(cfg, store, index, decoder or _NoDecoder(), TokenStore(cfg.data), metrics)


class _NoDecoder:
    """decode_workers = 0: frames are stored, never decoded here."""

    def on_stored(self, rec) -> None:
        pass

    async def png(self, rec) -> bytes:
        raise Refused(503, "no_decoder", "this server does not decode (decode_workers = 0)")

    async def close(self) -> None:
        pass


def _ssl_context(cfg: ServerConfig) -> ssl.SSLContext | None:
    if cfg.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return context


async def serve(cfg: ServerConfig, ready=None) -> None:
    """Serve until SIGTERM/SIGINT; ``ready(port)`` is called once listening."""
    ctx = await open_context(cfg)
    runner = ServerRunner(build_app(ctx), ctx.metrics, shutdown_timeout=cfg.stop_grace_s,
                          **access_log_options(cfg.access_log))
    await runner.setup()
    host, port = cfg.listen.rsplit(":", 1)
    site = web.TCPSite(runner, host or None, int(port), ssl_context=_ssl_context(cfg), reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1]
    log.info("serving %s on %s://%s:%d (%s mode)", cfg.data, "https" if cfg.tls_cert else "http", host, bound,
             "scaled" if cfg.nats else "embedded")
    if ready:
        ready(bound)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:  # each part takes at most stop_grace_s: waiting PNG requests get 503 at once
        await asyncio.gather(runner.cleanup(), ctx.decoder.close())
        await ctx.index.close()
        if not cfg.nats:
            from .sweep import mark_clean_stop

            mark_clean_stop(cfg.data)
