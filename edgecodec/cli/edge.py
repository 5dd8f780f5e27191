"""``edgecodec daemon | serve | token | worker``: the camera-to-server path."""
from __future__ import annotations

import argparse
import json
import logging
import sys

from ..codec.bitstream import DEFAULT_MAX_PIXELS
from ..runtime import BACKENDS, ENGINE_BACKENDS
from .logs import add_log_level, setup_logging

SERVER_BACKENDS = tuple(b for b in BACKENDS if b not in ENGINE_BACKENDS)  # the server has no engine folder


def register(sub: argparse._SubParsersAction) -> None:
    _register_daemon(sub)
    _register_serve(sub)
    _register_token(sub)
    _register_worker(sub)


def _register_daemon(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--intra", action="store_true", default=None, help="code every frame as a key frame")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--loop", action="store_true", default=None, help="restart a video file at its end")
    p.add_argument("--model", help="checkpoint path or configuration name (default: embedded)")
    p.add_argument("--backend", choices=BACKENDS,
                   help="encoder runtime (tensorrt: the engines of the profile's [device] table)")
    p.add_argument("--http-listen", help="HOST:PORT of /healthz and /metrics")
    add_log_level(p)
    p.set_defaults(run=run_daemon)


def _register_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the ingest server", description="Receive, store and decode frames; "
                       "serve the API and the viewer page. See docs/api.md and docs/server.md.")
    p.add_argument("--config", default=None, help="server.toml (flags override its values)")
    p.add_argument("--validate-config", action="store_true", help="check the configuration and exit (0: valid)")
    p.add_argument("--data", help="data directory")
    p.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:8080)")
    p.add_argument("--decode-workers", type=int, help="decode worker processes (0: none)")
    p.add_argument("--model", help="checkpoint path or configuration name (default: embedded)")
    p.add_argument("--backend", choices=SERVER_BACKENDS, help="decoder runtime")
    p.add_argument("--tls-cert", help="PEM certificate chain (HTTPS)")
    p.add_argument("--tls-key", help="PEM private key")
    p.add_argument("--nats", help="NATS URL: scaled mode")
    p.add_argument("--no-access-log", dest="access_log", action="store_false", default=None,
                   help="no line per request in the log")
    add_log_level(p)
    p.set_defaults(run=run_serve)


def _register_token(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("token", help="add, revoke or list access tokens",
                       description="Tokens are stored hashed in DATA/tokens.json; a new one is printed once.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="create a token and print it")
    add.add_argument("name", help="device id (role device) or viewer name")
    add.add_argument("--role", choices=("device", "viewer"), default="device", help="default: device")
    revoke = actions.add_parser("revoke", help="revoke every token of a name")
    revoke.add_argument("name")
    actions.add_parser("list", help="list tokens (never their values)")
    for action in (add, revoke, actions.choices["list"]):
        action.add_argument("--data", required=True, help="the server's data directory")
    p.set_defaults(run=run_token)


def _register_worker(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="decode frames for scaled-mode servers (NATS JetStream)",
                       description="Pull decode jobs from JetStream, decode from the shared data directory, "
                                   "write the PNG and report the result.")
    p.add_argument("--nats", required=True, help="NATS URL, e.g. nats://127.0.0.1:4222")
    p.add_argument("--data", required=True, help="the shared data directory")
    p.add_argument("--model", default=None, help="checkpoint path or configuration name (default: embedded)")
    p.add_argument("--backend", choices=SERVER_BACKENDS, default="torch", help="decoder runtime")
    p.add_argument("--prefix", default="edgecodec", help="JetStream name prefix (as the servers')")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="largest frame decoded, in pixels (as the servers' max_pixels)")
    add_log_level(p)
    p.set_defaults(run=run_worker)


def _logging(args: argparse.Namespace) -> None:
    """Log lines on stderr at --log-level, timestamped, bearer tokens redacted whoever wrote them."""
    from ..server.redact import RedactingFormatter

    setup_logging(args.log_level, RedactingFormatter)


def _config(args: argparse.Namespace, model, fields: tuple[str, ...]):
    from ..common.config import build_config

    return build_config(model, args.config, {f: getattr(args, f) for f in fields})


def _valid(args: argparse.Namespace, model: str | None) -> int:
    """--validate-config: load the model it names, if any (it must load), and say so."""
    where = args.config or "configuration"
    if model is not None:
        from ..checkpoint import ModelLoadError, load_model

        try:
            load_model(model)
        except ModelLoadError as e:
            raise ValueError(f"{where}: model: {e}") from None
    print(f"{where}: valid")
    return 0


def run_daemon(args: argparse.Namespace) -> int:
    from ..edge.config import DaemonConfig

    fields = ("source", "server", "device_id", "token_file", "spool", "fps", "quality", "key_interval_s",
              "scene_change", "intra", "max_frames", "loop", "model", "backend", "http_listen")
    cfg = _config(args, DaemonConfig, fields)
    _check_secrets(args, cfg.source)
    if args.validate_config:
        from ..edge.spool import check_writable
        from ..edge.uploader import read_token

        check_writable(cfg.spool)
        read_token(cfg.token_file)
        return _valid(args, cfg.model)
    _logging(args)
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


def run_serve(args: argparse.Namespace) -> int:
    import asyncio

    from ..server.config import ServerConfig
    from ..server.permissions import loose_permissions, private_files

    fields = ("data", "listen", "decode_workers", "model", "backend", "tls_cert", "tls_key", "nats", "access_log")
    cfg = _config(args, ServerConfig, fields)
    loose = loose_permissions(cfg.data)
    if args.validate_config:
        for line in loose:
            print(f"edgecodec: warning: {line}", file=sys.stderr)
        return _valid(args, cfg.model if cfg.decode_workers and not cfg.nats else None)
    _logging(args)
    for line in loose:
        logging.getLogger("edgecodec.server").warning("%s", line)
    from ..server.app import serve

    with private_files():
        asyncio.run(serve(cfg))
    return 0


def run_token(args: argparse.Namespace) -> int:
    from ..server.permissions import private_files
    from ..server.tokens import TokenStore

    store = TokenStore(args.data)
    if args.action == "list":
        for entry in store.list():
            state = "active" if entry["revoked"] is None else "revoked"
            print(f"{entry['id']}  {entry['role']:<6}  {state:<7}  {entry['name']}")
        return 0
    with private_files():
        if args.action == "add":
            print(store.add(args.name, args.role))
        else:
            print(f"revoked {store.revoke(args.name)} token(s) of {args.name}")
    return 0


def run_worker(args: argparse.Namespace) -> int:
    import asyncio

    _logging(args)
    from ..server.nats_worker import run_worker as run
    from ..server.permissions import private_files

    with private_files():
        if args.max_pixels < 1:
            raise ValueError(f"--max-pixels must be at least 1, got {args.max_pixels}")
        asyncio.run(run(args.nats, args.data, args.model, args.backend, args.prefix, args.max_pixels))
    return 0
