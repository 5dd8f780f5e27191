"""Entry point: ``edgecodec <command> ...``; every failure is one line on stderr."""
from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from importlib import metadata

from ..errors import message_line
from . import bench, calibrate, coding, demo, doctor, edge, eval_video, evaluate, export, server, training

COMMANDS = (coding, demo, bench, training, evaluate, eval_video, export, edge, server, calibrate, doctor)
EXTRA_MODULES = {"aiohttp": "server", "nats": "server", "prometheus_client": "edge", "onnxconverter_common": "edge"}
SERVER_COMMANDS = ("serve", "worker")


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one ``edgecodec: error:`` line (exit status 2), like every other error; a
    subcommand's errors name it once (``edgecodec: error: encode: ...``)."""

    def error(self, message: str):
        command = self.prog.removeprefix("edgecodec").strip()
        self.exit(2, f"edgecodec: error: {command + ': ' if command else ''}{message} (see --help)\n")


def version() -> str:
    """The installed package's version."""
    try:
        return metadata.version("edgecodec")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="edgecodec", description="Learned image compression for edge cameras.")
    parser.add_argument("--version", action="version", version=f"edgecodec {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def _warning_line(message, category, filename, lineno, file=None, line=None):
    print(f"edgecodec: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _warning_line
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("edgecodec: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, KeyError, RuntimeError) as e:
        return _error(message_line(e))
    except ModuleNotFoundError as e:
        extra = EXTRA_MODULES.get((e.name or "").partition(".")[0])
        if extra is None:
            return _error(f"internal error (ModuleNotFoundError: {message_line(e)}); set EDGECODEC_DEBUG=1 for details")
        extra = "server" if args.command in SERVER_COMMANDS else extra
        return _error(f"{args.command} needs {e.name}, which the {extra} extra installs: "
                      f"pip install 'edgecodec[{extra}]'")
    except Exception as e:  # a bug: still one line, the traceback only on request
        return _error(f"internal error ({type(e).__name__}: {message_line(e)}); set EDGECODEC_DEBUG=1 for details")


def _error(line: str) -> int:
    """Print one error line (the traceback too with EDGECODEC_DEBUG set); the exit status 1."""
    if os.environ.get("EDGECODEC_DEBUG"):
        traceback.print_exc()
    print(f"edgecodec: error: {line}", file=sys.stderr)
    return 1

