"""The access log: one line per answered request, refusals and malformed requests included.

A line is ``PEER METHOD PATH STATUS BYTESB MILLISECONDSms NAME``: the path without its query string
(no query carries a secret here, but none is logged either), the response's bytes, and the token's
name (device or viewer) when the request was authenticated, else ``-``. It goes to the logger
``edgecodec.access``, so through the handlers of ``serve`` (whose formatter redacts tokens).
"""
from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .tokens import Principal

ACCESS = logging.getLogger("edgecodec.access")
# set by auth.principal once a token is accepted: a typed key where aiohttp has them (it warns about strings)
PRINCIPAL: Any = web.RequestKey("principal", Principal) if hasattr(web, "RequestKey") else "edgecodec.principal"
MAX_PATH = 200


class AccessLog(AbstractAccessLogger):
    """aiohttp's hook, called once a response is sent (also aiohttp's own error answers)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        who = request.get(PRINCIPAL)
        self.logger.info("%s %s %s %d %dB %.1fms %s", request.remote or "-", request.method,
                         request.rel_url.raw_path[:MAX_PATH], response.status, response.body_length, time * 1000,
                         who.name if who is not None else "-")


def access_log_options(enabled: bool) -> dict[str, Any]:
    """The runner's keyword arguments: the access log on ``edgecodec.access``, or none."""
    return {"access_log": ACCESS, "access_log_class": AccessLog} if enabled else {"access_log": None}
