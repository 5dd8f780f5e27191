"""Bearer-token authentication of requests."""
from __future__ import annotations

import logging

from aiohttp import web

from .access_log import PRINCIPAL
from .tokens import Principal, TokenStore

log = logging.getLogger("edgecodec.auth")


class Refused(Exception):
    """A request refused with an HTTP status and a reason (sent as JSON, nothing stored)."""

    def __init__(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.reason, self.message, self.headers = status, reason, message, headers or {}


def principal(request: web.Request, tokens: TokenStore) -> Principal:
    """The token's owner (kept in the request for the access log); Refused(401) without a valid active token."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "unauthenticated", "missing bearer token")
    try:
        who = tokens.authenticate(token.strip())
    except ValueError as e:  # tokens.json became malformed while serving: nobody gets in, the reason is logged
        log.error("%s", e)
        raise Refused(503, "unavailable", "the server's token file is unreadable") from None
    if who is None:
        raise Refused(401, "unauthenticated", "unknown or revoked token")
    request[PRINCIPAL] = who
    return who


def require_viewer(request: web.Request, tokens: TokenStore) -> Principal:
    """Reads need a viewer token; devices cannot read."""
    who = principal(request, tokens)
    if who.role != "viewer":
        raise Refused(403, "forbidden", "this token may not read (viewer role needed)")
    return who
