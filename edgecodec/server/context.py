"""What every request handler shares: configuration, storage, index, decoder, tokens, metrics."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .config import ServerConfig
from .metrics import ServerMetrics
from .storage import FrameStore
from .tokens import TokenStore


@dataclass
class ServerContext:
    """The server's parts; ``index`` is a SqliteIndex or KvIndex, ``decoder`` a LocalDecoder or NatsDecoder."""

    cfg: ServerConfig
    store: FrameStore
    index: Any
    decoder: Any
    tokens: TokenStore
    metrics: ServerMetrics


CTX = web.AppKey("ctx", ServerContext)
