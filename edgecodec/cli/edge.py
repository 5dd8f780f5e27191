"""``edgecodec daemon``: capture, encode, spool and upload (the camera side)."""
from __future__ import annotations

import argparse
import json

from ..codec.bitstream import CHAIN
from ..runtime import BACKENDS
from .configs import configure, report_valid
from .logs import add_log_level, redacted_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("daemon", help="capture, encode and upload frames (the camera daemon)",
                       description="Capture frames, encode them, keep them in a durable spool and upload them to "
                                   "the ingest server. Flags override the --config file. See docs/server.md.")
    p.add_argument("--config", default=None, help="device.toml (flags override its values)")
    p.add_argument("--validate-config", action="store_true", help="check the configuration and exit (0: valid)")
    p.add_argument("--source", help="video file, /dev/videoN or index, rtsp:// URL, GStreamer pipeline, csi:N")
    p.add_argument("--server", help="ingest server base URL")
    p.add_argument("--device-id", help="this camera's id")
    p.add_argument("--token-file", help="file holding the device token")
    p.add_argument("--spool", help="spool directory")
    p.add_argument("--fps", type=float, help="capture at most this many frames per second")
    p.add_argument("--quality", type=float, help="0..100")
    p.add_argument("--key-interval", type=float, dest="key_interval_s", metavar="SECONDS",
                   help="longest capture time between key frames (default 60; 0: start and scene changes only)")
    p.add_argument("--scene-change", type=float, metavar="SHARE",
                   help="code a key frame when a delta frame costs more than this share of one (default 0.5)")
    p.add_argument("--chain", type=int, metavar="N",
                   help=f"delta frames from a frame back to its key frame, at most: fewer bits for moving content, "
                        f"a longer dependency for random access and after a loss (default {CHAIN}; 1: every delta "
                        f"frame references its key frame)")
    p.add_argument("--intra", action="store_true", default=None, help="code every frame as a key frame")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--loop", action="store_true", default=None, help="restart a video file at its end")
    p.add_argument("--model", help="checkpoint path or configuration name (default: embedded)")
    p.add_argument("--backend", choices=BACKENDS,
                   help="encoder runtime (tensorrt: the engines of the profile's [device] table)")
    p.add_argument("--http-listen", help="HOST:PORT of /healthz and /metrics")
    add_log_level(p)
    p.set_defaults(run=run_daemon)


def run_daemon(args: argparse.Namespace) -> int:
    from ..edge.config import DaemonConfig

    fields = ("source", "server", "device_id", "token_file", "spool", "fps", "quality", "key_interval_s",
              "scene_change", "chain", "intra", "max_frames", "loop", "model", "backend", "http_listen")
    cfg = configure(args, DaemonConfig, fields)
    _check_secrets(args, cfg.source)
    if args.validate_config:
        from ..edge.spool import check_writable
        from ..edge.uploader import read_token

        check_writable(cfg.spool)
        read_token(cfg.token_file)
        return report_valid(args, cfg.model)
    redacted_logging(args)
    from ..edge.daemon import run_daemon as run

    summary = run(cfg)
    print(json.dumps(summary))
    return 0


def _check_secrets(args: argparse.Namespace, source: str) -> None:
    """Every ``${NAME}`` of the source is set here (a one-line configuration error naming it, never a value)."""
    from ..edge.credentials import expand

    try:
        expand(source)
    except ValueError as e:
        raise ValueError(f"{args.config or 'configuration'}: source: {e}") from None
