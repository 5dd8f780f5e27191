"""An in-process server (aiohttp test client) on a temporary data directory, and valid test frames."""
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from edgecodec.server.app import build_app, open_context
from edgecodec.server.config import ServerConfig


@contextlib.asynccontextmanager
async def app_client(data: Path, **settings):
    """(client, context) of a server without decode workers unless asked."""
    ctx = await open_context(ServerConfig(data=data, **{"decode_workers": 0, **settings}))
    client = TestClient(TestServer(build_app(ctx)))
    await client.start_server()
    try:
        yield client, ctx
    finally:
        await client.close()
        await ctx.decoder.close()
        await ctx.index.close()


def run(coro):
    return asyncio.run(coro)


def stored_files(data: Path) -> list[Path]:
    """Every file under frames/ (what an accepted upload leaves behind)."""
    return [p for p in (data / "frames").rglob("*") if p.is_file()]
