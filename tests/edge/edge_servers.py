"""Header-only frames and loopback servers for the upload tests: the real ingest server and a fake one."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.server
import json
import threading
from pathlib import Path
from typing import Callable, Iterator

from aiohttp import web

from edgecodec.codec import bitstream
from edgecodec.server.app import build_app, open_context
from edgecodec.server.config import ServerConfig


def crafted_frame(width: int, height: int, tag: bytes = b"") -> bytes:
    """A valid .ecb file of any size with a few payload bytes (nothing to decode, nothing encoded)."""
    return bitstream.pack(bitstream.Header(width, height, 50.0, bytes(16)), (b"z" + tag, b"y"))


def crafted_stream_frame(seq: int, ref: int | None = None, payload: int = 1, size: tuple[int, int] = (4, 4)) -> bytes:
    """A valid .ecb v2 frame (nothing to decode): a key frame ``seq``, or a delta frame referencing ``ref``."""
    width, height = size
    if ref is None:
        return bitstream.pack(bitstream.Header(width, height, 50.0, bytes(16), bitstream.KEY, seq),
                              (b"z", b"y" * payload))
    header = bitstream.Header(width, height, 50.0, bytes(16), bitstream.DELTA, seq, ref, b"h" * 8)
    return bitstream.pack(header, (b"f", b"z", b"y" * payload))


@contextlib.contextmanager
def ingest_server(data: Path, **settings) -> Iterator[str]:
    """The real ingest server (no decoders) on a loopback port, in a thread of its own; yields its URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple:
        ctx = await open_context(ServerConfig(data=data, decode_workers=0, **settings))
        runner = web.AppRunner(build_app(ctx))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return ctx, runner

    async def stop(ctx, runner) -> None:
        await runner.cleanup()
        await ctx.index.close()

    ctx, runner = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        asyncio.run_coroutine_threadsafe(stop(ctx, runner), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


Answer = Callable[[str, int, str], tuple[int, str, bytes]]  # (device, seq, sha256) -> (status, type, body)


def acknowledgement(device_id: str, seq: int, sha256: str, status: str = "stored") -> bytes:
    """The JSON body of the ingest server's 201 (docs/api.md), reduced to the fields the daemon checks."""
    return json.dumps({"status": status, "device_id": device_id, "seq": seq, "sha256": sha256}).encode()


@contextlib.contextmanager
def fake_server(answer: Answer, after: int, done: threading.Event) -> Iterator[tuple[str, list[dict]]]:
    """A loopback HTTP server answering each POST with ``answer``; sets ``done`` at the ``after``-th
    request, before answering it. Yields its URL and the requests' headers."""
    seen: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            parts = self.path.split("/")  # /api/v1/devices/{device}/frames/{seq}
            status, kind, reply = answer(parts[-3], int(parts[-1]), hashlib.sha256(body).hexdigest())
            seen.append(dict(self.headers))
            if len(seen) >= after:
                done.set()  # before answering: the client stops after this reply
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
