"""Requests that fail outside the API's handlers: malformed HTTP, which aiohttp refuses before any
handler runs, and a handler that crashes.

aiohttp's own answer echoes the offending request line or header, and its log adds a traceback
holding the same bytes: with a token read from a file with Windows line endings
(``Bearer ecb_...\\r``) or a header over 8,190 bytes, that is the bearer token. Here each such
request gets one log line (the peer and the kind of error, never request bytes), a JSON error
like every other refusal, and a count in ``edgecodec_server_requests_rejected{reason}``.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ..errors import message_line
from .metrics import ServerMetrics

log = logging.getLogger("edgecodec.server")
NO_STORE = {"Cache-Control": "no-store"}  # on every error: a later request may succeed


def describe(exc: BaseException | None) -> str:
    """The kind of a parse error from its class alone (``LineTooLong`` -> 'line too long'): its message
    quotes the request."""
    name = type(exc).__name__ if exc is not None else "BadHttpMessage"
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).lower()


class _Handler(RequestHandler):
    """aiohttp's connection handler with a JSON, one-line ``handle_error``."""

    def __init__(self, manager: web.Server, metrics: ServerMetrics, **kwargs: Any):
        super().__init__(manager, **kwargs)
        self._metrics = metrics

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        """aiohttp's other error logs (reading the rest of a broken body, a failed write): one line with
        the error's kind, never its message, which may quote the request."""
        exc = kwargs.get("exc_info")
        kind = type(exc).__name__ if isinstance(exc, BaseException) else "error"
        log.warning("connection closed after %s (%s)", (args[0] % args[1:]).lower() if args else "an error", kind,
                    exc_info=exc if os.environ.get("EDGECODEC_DEBUG") else None)

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            reason, text = "internal_error", HTTPStatus(status).phrase.lower()
            log.error("%s on %s %r: %s: %s", text, request.method, request.path[:200], type(exc).__name__,
                      message_line(exc), exc_info=exc if os.environ.get("EDGECODEC_DEBUG") else None)
        else:
            reason, text = "malformed_request", f"malformed HTTP request ({describe(exc)})"
            log.warning("refused a %s from %s", text, request.remote)
        self._metrics.rejected.labels(reason).inc()
        if request.writer.output_size > 0:  # as aiohttp: an answer has begun, the connection is dropped
            raise ConnectionError("cannot answer with an error: the response has begun")
        resp = web.json_response({"error": text, "reason": reason}, status=status, headers=NO_STORE)
        resp.force_close()
        return resp


class _Server(web.Server):
    """Makes a ``_Handler`` per connection."""

    def __init__(self, *args: Any, metrics: ServerMetrics, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._metrics = metrics

    def __call__(self) -> RequestHandler:
        return _Handler(self, self._metrics, loop=self._loop, **self._kwargs)


class ServerRunner(web.AppRunner):
    """``web.AppRunner`` whose connections answer and log errors as ``_Handler`` does."""

    def __init__(self, app: web.Application, metrics: ServerMetrics, **kwargs: Any):
        super().__init__(app, **kwargs)
        self._metrics = metrics

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return _Server(plain.request_handler, request_factory=plain.request_factory,
                       handler_cancellation=plain.handler_cancellation, loop=asyncio.get_running_loop(),
                       metrics=self._metrics, **plain._kwargs)
