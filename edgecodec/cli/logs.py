"""Log lines of the long-running commands (daemon, serve, worker, train, qat): ``--log-level`` and a
timestamp on each line, except under journald, which stamps every line itself."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TextIO

LEVELS = ("debug", "info", "warning", "error")
FORMAT = "edgecodec %(name)s: %(levelname)s: %(message)s"


def add_log_level(p: argparse.ArgumentParser) -> None:
    """The ``--log-level`` option."""
    p.add_argument("--log-level", choices=LEVELS, default="info", help="least severe messages logged (default info)")


def under_journald(stream: TextIO) -> bool:
    """Whether ``stream`` is the systemd journal ($JOURNAL_STREAM names its device and inode)."""
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # no file descriptor (a test's StringIO)
        return False
    return os.environ.get("JOURNAL_STREAM") == f"{st.st_dev}:{st.st_ino}"


def setup_logging(level: str, formatter: type[logging.Formatter] = logging.Formatter,
                  stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr) at ``level`` and above, each line timestamped unless journald stamps it."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(FORMAT if under_journald(stream) else "%(asctime)s " + FORMAT))
    logging.basicConfig(handlers=[handler])
    logging.getLogger().setLevel(level.upper())


def redacted_logging(args: argparse.Namespace) -> None:
    """Log lines on stderr at --log-level, timestamped, bearer tokens redacted whoever wrote them."""
    from ..server.redact import RedactingFormatter

    setup_logging(args.log_level, RedactingFormatter)
