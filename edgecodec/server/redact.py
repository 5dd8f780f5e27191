"""Log lines never carry a bearer token, whichever library wrote them (defence in depth: the
server's own messages never include request headers)."""
from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"(?i)(\bbearer\s+)\S+|\becb_[A-Za-z0-9_-]{8,}")


def redact(text: str) -> str:
    """``text`` with every ``Bearer <credential>`` and ``ecb_...`` token replaced by ``[redacted]``."""
    return _TOKEN.sub(lambda m: (m.group(1) or "") + "[redacted]", text)


class RedactingFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose output (tracebacks included) goes through ``redact``."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
