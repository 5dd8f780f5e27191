"""Shared by the device tests: where the profiles are, reading them, writing variants of them."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from edgecodec.common.config import read_toml

ROOT = Path(__file__).resolve().parents[2]
DEVICES = ROOT / "devices"
INSTALL = DEVICES / "install-jetson.sh"
PROFILES = sorted(p.stem for p in DEVICES.glob("*.toml"))
JETSON_PROFILES = [p for p in PROFILES if read_toml(DEVICES / f"{p}.toml")["device"]["platform"] == "jetson"]
sys.path.insert(0, str(ROOT / "tests" / "server"))  # harness.py: how the server tests start a server


def profile_data(name: str) -> dict:
    """A shipped profile as a dict (to derive variants from)."""
    return read_toml(DEVICES / f"{name}.toml")


def _toml(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else json.dumps(value)


def dump_profile(data: dict) -> str:
    """TOML text of a profile dict: top-level keys, then [device] and [device.capture]."""
    device = dict(data.get("device", {}))
    capture = device.pop("capture", None)
    lines = [f"{k} = {_toml(v)}" for k, v in data.items() if k != "device"]
    if "device" in data:
        lines += ["[device]", *(f"{k} = {_toml(v)}" for k, v in device.items())]
    if capture is not None:
        lines += ["[device.capture]", *(f"{k} = {_toml(v)}" for k, v in capture.items())]
    return "\n".join(lines) + "\n"
