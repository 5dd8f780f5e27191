"""The query of a frame listing: ``since`` and ``until`` (capture times), ``after`` (a sequence number:
the listing's cursor) and ``limit``.

Times are bounded like the capture times an upload may carry (0..MAX_CAPTURE_US microseconds,
about 146,000 years), so every stored frame can be listed; numbers are parsed without float
rounding and without Python's 4,300-digit limit on int().
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

from ..common.protocol import MAX_CAPTURE_US, MAX_SEQ

MAX_LIST = 10000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_SECONDS = Decimal(MAX_CAPTURE_US) / 1_000_000


def parse_time(text: str) -> int:
    """since/until: Unix seconds (may be fractional) or ISO 8601 with a time zone -> microseconds."""
    try:
        seconds = Decimal(text)
    except InvalidOperation:
        return _iso_us(text)
    if not seconds.is_finite() or not 0 <= seconds <= _MAX_SECONDS:
        raise ValueError(f"time {text[:40]!r} out of range (0..{_MAX_SECONDS} s)")
    return int((seconds * 1_000_000).to_integral_value(ROUND_FLOOR))


def _iso_us(text: str) -> int:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text[:40]!r}: use Unix seconds or ISO 8601") from None
    if when.tzinfo is None:
        raise ValueError(f"time {text[:40]!r} needs a time zone (e.g. Z)")
    us = (when - _EPOCH) // timedelta(microseconds=1)
    if us < 0:
        raise ValueError(f"time {text[:40]!r} out of range (before 1970)")
    return us


def parse_window(since: str | None, until: str | None) -> tuple[int, int]:
    """[since, until) in microseconds; by default from 0 to past the latest capture time an upload may carry."""
    return (parse_time(since) if since is not None else 0,
            parse_time(until) if until is not None else MAX_CAPTURE_US + 1)


def parse_limit(text: str) -> int:
    """``limit``: an integer 1..MAX_LIST (ValueError otherwise)."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_LIST)) and 1 <= int(text) <= MAX_LIST):
        raise ValueError(f"limit must be an integer 1..{MAX_LIST}")
    return int(text)


def parse_after(text: str | None) -> int:
    """``after``: list frames with a greater sequence number (0..2^63-1; ValueError otherwise); -1 without it."""
    if text is None:
        return -1
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_SEQ)) and int(text) <= MAX_SEQ):
        raise ValueError(f"after must be a sequence number 0..{MAX_SEQ}")
    return int(text)
