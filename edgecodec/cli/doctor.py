"""``edgecodec doctor``: can this device run the daemon? And the files the installer writes (--print).

The checks are ``edgecodec.edge.doctor``'s; this prints them (exit status 1 if any fails), or with
--print the file ``edgecodec.edge.deployment`` renders from the profile.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from ..common.config import build_config, read_toml
from ..edge import doctor
from ..edge.deployment import DeviceTemplate, device_toml, install_facts, resolve_source, systemd_unit
from ..edge.profile import Capabilities

DEFAULT_CONFIG = Path("/etc/edgecodec/device.toml")
OVERRIDES = ("source", "server", "device_id", "token_file", "spool", "model")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check that this device can run the daemon (TensorRT, GPU, camera, server, "
                                      "token, disk)",
                       description="Check TensorRT, the GPU, the camera, the server, the token and the spool's disk "
                                   "space: PASS, WARN or FAIL with what to do; exit status 1 if any fails. With "
                                   "--print, write a file the installer uses instead. See docs/jetson.md.")
    p.add_argument("--config", default=None, help=f"device.toml or a device profile (default: {DEFAULT_CONFIG} "
                                                   "if present); the flags below override it")
    p.add_argument("--source", help="camera source")
    p.add_argument("--server", help="ingest server base URL")
    p.add_argument("--device-id", help="this camera's id")
    p.add_argument("--token-file", help="file holding the device token")
    p.add_argument("--spool", help="spool directory")
    p.add_argument("--model", help="checkpoint the daemon will use (--print config)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--camera-timeout", type=float, default=10.0, help="seconds to wait for one frame (default 10)")
    p.add_argument("--wait-for-daemon", type=float, default=0.0, metavar="S",
                   help="first wait up to S seconds for a just-started daemon to hold the camera (default 0)")
    p.add_argument("--min-free-ratio", type=float, default=1.0,
                   help="WARN when free disk space is below this times the room the spool may still take (default 1)")
    p.add_argument("--print", dest="print_what", choices=("config", "unit", "install-env"),
                   help="print /etc/edgecodec/device.toml (source resolved on this machine), the systemd unit, "
                        "or the profile's build facts as KEY=VALUE lines, and exit")
    p.add_argument("--venv", default="/opt/edgecodec/venv", help="--print unit: the daemon's venv")
    p.add_argument("--config-path", default=str(DEFAULT_CONFIG), help="--print unit: the device.toml it runs with")
    p.set_defaults(run=run)


def _config_path(args: argparse.Namespace) -> Optional[Path]:
    if args.config:
        return Path(args.config)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in OVERRIDES}


def _print(args: argparse.Namespace) -> int:
    path = _config_path(args)
    if path is None:
        raise ValueError("--print needs --config (a device profile or device.toml)")
    cfg = build_config(DeviceTemplate, path, _overrides(args))
    if args.print_what == "install-env":
        print("\n".join(f"{key}={value}" for key, value in install_facts(cfg).items()))
    elif args.print_what == "unit":
        print(systemd_unit(cfg, Path(args.venv), Path(args.config_path)), end="")
    else:
        explicit = args.source is not None or "source" in read_toml(path)
        caps = Capabilities(False) if explicit else doctor.probe_capabilities()
        print(device_toml(cfg, *resolve_source(cfg, explicit, caps)), end="")
    return 0


def run(args: argparse.Namespace) -> int:
    if not args.camera_timeout > 0 or not args.min_free_ratio >= 0 or not args.wait_for_daemon >= 0:
        raise ValueError("--camera-timeout must be > 0, --min-free-ratio and --wait-for-daemon >= 0")
    if args.print_what:
        return _print(args)
    target = doctor.load_target(_config_path(args), _overrides(args))
    checks = doctor.run_checks(target, args.camera_timeout, args.wait_for_daemon, args.min_free_ratio)
    if args.json:
        print(json.dumps({"ok": all(c.status != doctor.FAIL for c in checks), "checks": [asdict(c) for c in checks]},
                         indent=2))
    else:
        for c in checks:
            print(f"{c.status}  {c.name:<8}  {c.message}")
    failed = [c.name for c in checks if c.status == doctor.FAIL]
    if failed:
        raise RuntimeError(f"doctor: {len(failed)} check(s) failed: {', '.join(failed)}")
    return 0
