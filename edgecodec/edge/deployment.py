"""The files a device profile renders for one machine: ``/etc/edgecodec/device.toml`` (the preset's source
resolved on this hardware), the daemon's systemd unit, and the build facts the install script reads.

Each is a pure function of the daemon configuration, so the tests enumerate them as data.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from pydantic import Field

from ..common.config import toml_value
from .config import DaemonConfig
from .profile import Capabilities, CsiCapture, DeviceProfile, capture_source

UNIT_NAME = "edgecodec-daemon.service"


class DeviceTemplate(DaemonConfig):
    """A device profile before installation: the daemon's schema, but the token file need not exist yet."""

    token_file: Path = Field(description="where the installer puts this device's bearer token (need not exist yet)")


def resolve_source(cfg: DaemonConfig, explicit: bool, caps: Capabilities) -> tuple[str, str]:
    """(source, note): an explicit source as it is, else the profile's preset on hardware ``caps``."""
    if explicit or cfg.device is None:
        return cfg.source, "source as configured"
    capture = cfg.device.capture
    source = capture_source(capture, cfg.device.resolution, caps)
    if source == cfg.source:
        return source, f"source: the {capture.kind} preset on this machine's hardware"
    return source, f"source: the {capture.kind} preset's software fallback (this machine lacks the NVIDIA elements)"


def install_facts(cfg: DaemonConfig) -> dict[str, str]:
    """What the install script needs from a profile, as flat one-line strings (printed KEY=VALUE)."""
    device = _device(cfg)
    facts = {"board": device.board, "platform": device.platform, "jetpack": " ".join(device.jetpack),
             "cuda_arch": device.cuda_arch, "tensorrt": device.tensorrt or "", "precision": device.precision,
             "resolution": device.resolution, "engines": str(device.engines), "plugin": str(device.plugin or ""),
             "spool": str(cfg.spool), "token_file": str(cfg.token_file), "model": cfg.model or ""}
    for key, value in facts.items():
        if "\n" in value:
            raise ValueError(f"{key}: a line break cannot pass to the install script")
    return facts


def _device(cfg: DaemonConfig) -> DeviceProfile:
    if cfg.device is None:
        raise ValueError("not a device profile: the configuration has no [device] table")
    return cfg.device


def device_toml(cfg: DaemonConfig, source: str, note: str) -> str:
    """``/etc/edgecodec/device.toml``: the profile's settings with the source resolved for the machine."""
    top = cfg.model_dump(mode="json", include=set(cfg.model_fields_set) - {"device"}, exclude_none=True)
    top["source"] = source
    lines = ["# /etc/edgecodec/device.toml, written by the installer (`edgecodec doctor --print config`).",
             f"# {note}", *(f"{key} = {toml_value(value)}" for key, value in top.items())]
    if cfg.device is not None:
        device = cfg.device.model_dump(mode="json", exclude_none=True)
        capture = device.pop("capture")
        lines += ["", "[device]", *(f"{k} = {toml_value(v)}" for k, v in device.items()),
                  "", "[device.capture]", *(f"{k} = {toml_value(v)}" for k, v in capture.items())]
    return "\n".join(lines) + "\n"


HARDENING = (
    "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
    "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes", "ProtectControlGroups=yes",
    "ProtectClock=yes", "ProtectHostname=yes", "RestrictNamespaces=yes", "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes", "LockPersonality=yes", "SystemCallArchitectures=native",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK", "CapabilityBoundingSet=", "UMask=0077",
    "# Not set on purpose: PrivateDevices=/DevicePolicy= (the GPU, /dev/nvhost-*, /dev/nvmap and the cameras",
    "# are device nodes) and MemoryDenyWriteExecute= (CUDA and TensorRT generate code at run time).",
)


def systemd_unit(cfg: DaemonConfig, venv: Path, config_path: Path) -> str:
    """The daemon's systemd unit: dedicated user, token as a credential, restart policy, hardening."""
    device = _device(cfg)
    paths = (venv, config_path, cfg.spool, cfg.token_file)
    if any(re.search(r"[\s%\"'\\]", str(p)) or not Path(p).is_absolute() for p in paths):
        raise ValueError("the unit needs absolute paths without spaces, quotes, backslashes or '%': "
                         + ", ".join(str(p) for p in paths))
    csi = isinstance(device.capture, CsiCapture)
    return "\n".join([
        f"# {UNIT_NAME}: written by the installer (`edgecodec doctor --print unit`) for {device.board}.",
        "# Re-run devices/install-jetson.sh rather than editing it.",
        "[Unit]",
        f"Description=edgecodec camera daemon ({device.board})",
        "After=network-online.target" + (" nvargus-daemon.service" if csi else ""),
        "Wants=network-online.target",
        "StartLimitIntervalSec=600",
        "StartLimitBurst=5",
        "",
        "[Service]",
        *_service_lines(cfg, venv, config_path, csi),
        *HARDENING,
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]) + "\n"


def _service_lines(cfg: DaemonConfig, venv: Path, config_path: Path, csi: bool) -> list[str]:
    """User, credential, command, restart policy and writable paths of the [Service] section."""
    return [
        "Type=exec",
        "User=edgecodec",
        "Group=edgecodec",
        "SupplementaryGroups=video",
        "# The token file stays root:root 0600; systemd copies it for this unit to %d/token",
        "# ($CREDENTIALS_DIRECTORY), readable only by the service user, while the unit runs.",
        f"LoadCredential=token:{cfg.token_file}",
        f"ExecStart={venv}/bin/edgecodec daemon --config {config_path} --token-file %d/token",
        "Restart=on-failure",
        "RestartSec=10",
        f"TimeoutStopSec={math.ceil(cfg.drain_timeout_s) + 30}",
        "CacheDirectory=edgecodec",
        f"Environment=OMP_NUM_THREADS={cfg.threads} XDG_CACHE_HOME=%C/edgecodec CUDA_CACHE_PATH=%C/edgecodec/cuda",
        f"ReadWritePaths={cfg.spool}",
        *(["# nvarguscamerasrc talks to nvargus-daemon through this socket (PrivateTmp hides /tmp).",
           "BindPaths=-/tmp/argus_socket"] if csi else []),
    ]
