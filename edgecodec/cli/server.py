"""``edgecodec serve | token | worker``: the ingest server, its access tokens and its scaled-mode decoders."""
from __future__ import annotations

import argparse
import logging
import sys

from ..codec.bitstream import DEFAULT_MAX_PIXELS
from ..runtime import BACKENDS, ENGINE_BACKENDS
from .configs import configure, report_valid
from .logs import add_log_level, redacted_logging

SERVER_BACKENDS = tuple(b for b in BACKENDS if b not in ENGINE_BACKENDS)  # the server has no engine folder


def register(sub: argparse._SubParsersAction) -> None:
    _register_serve(sub)
    _register_token(sub)
    _register_worker(sub)


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


def run_serve(args: argparse.Namespace) -> int:
    import asyncio

    from ..server.config import ServerConfig
    from ..server.permissions import loose_permissions, private_files

    fields = ("data", "listen", "decode_workers", "model", "backend", "tls_cert", "tls_key", "nats", "access_log")
    cfg = configure(args, ServerConfig, fields)
    loose = loose_permissions(cfg.data)
    if args.validate_config:
        for line in loose:
            print(f"edgecodec: warning: {line}", file=sys.stderr)
        return report_valid(args, cfg.model if cfg.decode_workers and not cfg.nats else None)
    redacted_logging(args)
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

    redacted_logging(args)
    from ..server.nats_worker import run_worker as run
    from ..server.permissions import private_files

    with private_files():
        if args.max_pixels < 1:
            raise ValueError(f"--max-pixels must be at least 1, got {args.max_pixels}")
        asyncio.run(run(args.nats, args.data, args.model, args.backend, args.prefix, args.max_pixels))
    return 0
