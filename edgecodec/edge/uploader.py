"""The upload role: spooled frames to the server, oldest first, with retries and backoff.

A frame leaves the spool only on the ingest server's acknowledgement (docs/api.md): a
201/200 whose JSON body names this device, this sequence number and the SHA-256 of the
bytes sent (the server stored them durably). Any other 200 (a captive portal, a proxy's
page), network errors, 5xx, 408, 429, 404 (a misrouted URL) and 401/403 (a token being
fixed) are retried with exponential backoff and jitter; 400/409/413/422 reject that frame for good.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import logging
import random
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from ..common.protocol import CAPTURE_HEADER, ECB_CONTENT_TYPE, frame_path
from .metrics import DaemonMetrics
from .spool import Spool, SpooledFrame

log = logging.getLogger("edgecodec.upload")
REJECT = frozenset({400, 409, 413, 422})
ACK_STATES = {201: "stored", 200: "exists"}
_SURROUNDING = " \t\r\n\v\f"  # ASCII whitespace: str.strip() would also drop control characters


def read_token(path: Path) -> str:
    """The bearer token in ``path`` (as printed by `edgecodec token add`), without the surrounding
    whitespace (a Windows CRLF included) and UTF-8 byte-order mark; ValueError naming the file if unusable."""
    try:
        token = Path(path).read_bytes().decode("utf-8-sig").strip(_SURROUNDING)
    except UnicodeDecodeError:
        raise ValueError(f"token file {path} is not UTF-8 text") from None
    if not token:
        raise ValueError(f"token file {path} is empty")
    bad = next((i for i, ch in enumerate(token) if not "!" <= ch <= "~"), None)
    if bad is not None:  # never the token itself in the message
        raise ValueError(f"token file {path}: {_describe(token[bad])} at position {bad + 1}: the token must be "
                         "printable ASCII without spaces or line breaks (as printed by `edgecodec token add`)")
    return token


def _describe(char: str) -> str:
    if char == " ":
        return "a space"
    return f"{'control' if char.isascii() else 'non-ASCII'} character {ascii(char)}"


class Backoff:
    """Exponential backoff with equal jitter: the n-th delay is uniform in [cap/2, cap]."""

    def __init__(self, initial: float, maximum: float, rng: Callable[[], float] = random.random):
        self.initial, self.maximum, self.rng = initial, maximum, rng
        self.failures = 0

    def next_delay(self) -> float:
        cap = min(self.maximum, self.initial * 2 ** min(self.failures, 60))
        self.failures += 1
        return cap / 2 + self.rng() * cap / 2

    def reset(self) -> None:
        self.failures = 0


@dataclass(frozen=True)
class Reply:
    """A server's answer to one upload: the status, its JSON object (None if the body is not one),
    and one line for the log."""

    status: int
    doc: dict | None
    text: str

    def acknowledges(self, device_id: str, seq: int, sha256: str) -> bool:
        """Whether this is the ingest server's acknowledgement that it stored exactly this frame."""
        doc = self.doc or {}
        return (self.status in ACK_STATES and doc.get("status") == ACK_STATES[self.status]
                and doc.get("device_id") == device_id and doc.get("seq") == seq and doc.get("sha256") == sha256)


def parse_reply(status: int, body: bytes) -> Reply:
    """The Reply of a status and (the start of) a body; its text is the server's error or status,
    else the body's start, on one line."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return Reply(status, None, " ".join(body[:200].decode("utf-8", "replace").split()))
    return Reply(status, doc, " ".join(str(doc.get("error") or doc.get("status") or "").split())[:200])


class IngestClient:
    """One keep-alive HTTP(S) connection to the ingest server."""

    def __init__(self, base_url: str, device_id: str, token_file: Path, timeout: float, ca_file: Path | None = None):
        url = urlsplit(base_url)
        self.https = url.scheme == "https"
        self.netloc, self.prefix = url.netloc, url.path.rstrip("/")
        self.device_id, self.token_file, self.timeout = device_id, Path(token_file), timeout
        self.context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None) if self.https else None
        self.token = read_token(self.token_file)
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(self.netloc, timeout=self.timeout, context=self.context)
            else:
                self._conn = http.client.HTTPConnection(self.netloc, timeout=self.timeout)
        return self._conn

    def post_frame(self, seq: int, capture_us: int, data: bytes) -> Reply:
        """POST one frame; returns the server's reply. Raises OSError on network failure."""
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": ECB_CONTENT_TYPE,
                   CAPTURE_HEADER: str(capture_us)}
        try:
            conn = self._connection()
            conn.request("POST", self.prefix + frame_path(self.device_id, seq), body=data, headers=headers)
            resp = conn.getresponse()
            body = resp.read(65536)
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise OSError(f"upload of frame {seq} failed: {type(e).__name__}: {e}") from None
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        if resp.status in (401, 403):  # maybe replaced on disk meanwhile
            try:
                self.token = read_token(self.token_file)
            except (OSError, ValueError) as e:
                log.error("keeping the current token: %s", e)
        return parse_reply(resp.status, body)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Uploader:
    """Uploads until ``finished()`` (producer done and spool empty) or ``abort`` is set."""

    def __init__(self, spool: Spool, client: IngestClient, metrics: DaemonMetrics, backoff: Backoff,
                 finished: Callable[[], bool], abort: threading.Event):
        self.spool, self.client, self.metrics, self.backoff = spool, client, metrics, backoff
        self.finished, self.abort = finished, abort

    def run(self) -> None:
        try:
            while not self.abort.is_set():
                frame = self.spool.take(timeout=0.2)
                if frame is None:
                    if self.finished():
                        return
                    continue
                self._upload(frame)
        finally:
            self.client.close()

    def _upload(self, frame: SpooledFrame) -> None:
        data = self.spool.read_valid(frame)
        if data is None:
            self.metrics.corrupt.inc()
            return
        t0 = time.monotonic()
        try:
            reply = self.client.post_frame(frame.seq, frame.capture_us, data)
        except OSError as e:
            reply = Reply(0, None, str(e))
        if reply.acknowledges(self.client.device_id, frame.seq, hashlib.sha256(data).hexdigest()):
            self.metrics.upload_seconds.observe(time.monotonic() - t0)
            self.metrics.upload_lag.set(max(0.0, time.time() - frame.capture_us / 1e6))
            self.spool.remove(frame)
            self.metrics.uploaded.inc()
            self.backoff.reset()
        elif reply.status in REJECT:
            log.error("server rejected frame %d for good (%d: %s): removed from the spool", frame.seq, reply.status,
                      reply.text)
            self.spool.remove(frame)
            self.metrics.rejected.inc()
        else:
            self._retry(frame, reply)
        self.metrics.spool_frames.set(len(self.spool))
        self.metrics.spool_bytes.set(self.spool.total_bytes)

    def _retry(self, frame: SpooledFrame, reply: Reply) -> None:
        """Keep the frame spooled and wait for the next attempt."""
        self.spool.release(frame)
        self.metrics.upload_errors.inc()
        why = f"{reply.status}: {reply.text}" if reply.status else reply.text
        if reply.status in ACK_STATES:  # not the ingest server, or not about this frame
            self.client.close()
            why = f"{reply.status} without the ingest server's acknowledgement of this frame: {_not_an_ack(reply)}"
        delay = self.backoff.next_delay()
        log.warning("upload of frame %d failed (%s): retry in %.1f s", frame.seq, why, delay)
        self.abort.wait(delay)


def _not_an_ack(reply: Reply) -> str:
    """What a 200/201 that is not this frame's acknowledgement holds, in one line."""
    if reply.doc is None:
        return f"the body is not JSON ({reply.text[:80]!r})"
    fields = ("status", "device_id", "seq", "sha256")
    return "it holds " + ", ".join(f"{key}={repr(reply.doc.get(key))[:70]}" for key in fields)
