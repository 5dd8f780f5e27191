"""Can this device run the daemon? The checks of ``edgecodec doctor``, each PASS, WARN or FAIL with what to do.

TensorRT (and the engines), the GPU, the camera (one frame, with a timeout), the server (``GET /healthz``),
the token (an upload the server refuses after authenticating it, before storing anything: the API has no
read a device token may make) and the spool's free disk space. With a Jetson profile a missing TensorRT or
GPU is a FAIL; elsewhere a WARN (the software paths work).
"""
from __future__ import annotations

import glob
import http.client
import json
import shutil
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Optional

from ..common.config import build_config
from ..common.protocol import HEALTH, frame_path
from .config import DaemonConfig
from .deployment import DeviceTemplate
from .profile import NVARGUS, NVCONV, NVDEC, Capabilities, DeviceProfile, parse_resolution

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
PROBE_SEQ = "doctor"  # not a sequence number: the server authenticates, then refuses the upload (400)
MIN_FREE_BYTES = 256 << 20


@dataclass(frozen=True)
class Check:
    """One check's verdict and what to do about it."""

    name: str
    status: str
    message: str


@dataclass(frozen=True)
class Target:
    """What the checks look at; None where nothing was configured (that check warns)."""

    device: Optional[DeviceProfile] = None
    source: Optional[str] = None
    server: Optional[str] = None
    device_id: Optional[str] = None
    token_file: Optional[Path] = None
    spool: Optional[Path] = None
    spool_max_bytes: int = DaemonConfig.model_fields["spool_max_bytes"].default
    http_listen: Optional[str] = None
    ca_file: Optional[Path] = None

TARGET_FIELDS = tuple(f.name for f in fields(Target))


def load_target(config: Optional[Path], overrides: dict[str, Any]) -> Target:
    """The configuration's values with the overrides (flags, None: not given) on top, or the overrides alone."""
    if config is not None:
        cfg = build_config(DeviceTemplate, config, overrides)
        return Target(**{f.name: getattr(cfg, f.name) for f in fields(Target)})
    given = {name: value for name, value in overrides.items() if name in TARGET_FIELDS and value is not None}
    return Target(**{k: Path(v) if k in ("token_file", "spool") else v for k, v in given.items()})


def _required(device: Optional[DeviceProfile]) -> bool:
    """A Jetson profile needs TensorRT and the GPU; elsewhere the software paths do."""
    return device is not None and device.platform == "jetson"


def _same_release(version: str, expected: str) -> bool:
    """'10.3.0.30' is release '10.3'."""
    wanted = expected.split(".")
    return version.split(".")[:len(wanted)] == wanted


def check_tensorrt(device: Optional[DeviceProfile]) -> Check:
    """TensorRT importable, its version the profile's, and the engines built."""
    try:
        import tensorrt  # noqa: PLC0415
    except ImportError:
        if _required(device):
            return Check("tensorrt", FAIL, "TensorRT is not importable: install JetPack's python3-libnvinfer and use "
                                           "a venv made with --system-site-packages (devices/install-jetson.sh)")
        return Check("tensorrt", WARN, "TensorRT is not importable: fine off a Jetson, the encoder runs in PyTorch "
                                       "or ONNX Runtime")
    version = tensorrt.__version__
    if device is None or device.tensorrt is None:
        return Check("tensorrt", PASS, f"TensorRT {version}")
    if not _same_release(version, device.tensorrt):
        return Check("tensorrt", WARN, f"TensorRT {version}, but the profile is for {device.tensorrt}: use the "
                                       "profile of this JetPack, then rebuild the plugin and engines")
    missing = [n for n in ("encoder.engine", "decoder.engine") if not (device.engines / n).exists()]
    if missing:
        return Check("tensorrt", WARN, f"TensorRT {version}, but no {' or '.join(missing)} in {device.engines}: run "
                                       f"`edgecodec export trt --out {device.engines} --precision {device.precision} "
                                       f"--resolution {device.resolution}`")
    return Check("tensorrt", PASS, f"TensorRT {version} (profile {device.tensorrt}), engines in {device.engines}")


def cuda_device() -> Optional[tuple[str, str]]:
    """(name, compute capability) of the first CUDA device through PyTorch, else pycuda; None without one."""
    import torch  # noqa: PLC0415

    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        return torch.cuda.get_device_name(0), f"{major}.{minor}"
    try:
        import pycuda.driver as cuda  # noqa: PLC0415

        cuda.init()
        device = cuda.Device(0)
        major, minor = device.compute_capability()
        return device.name(), f"{major}.{minor}"
    except Exception:  # ImportError, or pycuda's own error types when there is no driver or device
        return None


def check_gpu(device: Optional[DeviceProfile]) -> Check:
    """A CUDA device visible to PyTorch or pycuda, of the profile's architecture."""
    found = cuda_device()
    if found is None:
        nodes = glob.glob("/dev/nvhost-*") + glob.glob("/dev/nvidia[0-9]*")
        if nodes:
            why = (f"NVIDIA device nodes exist ({len(nodes)}) but neither PyTorch nor pycuda sees a GPU: install "
                   "JetPack's PyTorch wheel (pip's aarch64 torch has no CUDA) or pycuda; is the user in group video?")
        elif _required(device):
            why = "no CUDA GPU and no /dev/nvhost-* nodes: is JetPack flashed on this board?"
        else:
            why = "no CUDA GPU: the encoder runs on the CPU"
        return Check("gpu", FAIL if _required(device) else WARN, why)
    name, capability = found
    if device is not None and device.compute_capability and capability != device.compute_capability:
        return Check("gpu", WARN, f"{name} has compute capability {capability}, the profile is for "
                                  f"{device.compute_capability}: use this board's profile (plugin and engines are "
                                  "built per architecture)")
    return Check("gpu", PASS, f"{name}, compute capability {capability}")


def _http(method: str, url: str, timeout: float, token: Optional[str] = None,
          ca_file: Optional[Path] = None) -> tuple[int, bytes]:
    """(status, body) of one request, without proxies (as the daemon); OSError when unreachable."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read(65536)
    except urllib.error.HTTPError as e:
        return e.code, e.read(65536)


def _reason(error: Exception) -> str:
    """Why a request failed, on one line."""
    return " ".join(str(getattr(error, "reason", error)).split()) or type(error).__name__


def _json(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _daemon_capturing(listen: Optional[str]) -> bool:
    """The daemon runs here and its capture role is running (then it holds the camera)."""
    host, _, port = (listen or "").rpartition(":")
    if not port or port == "0":
        return False
    try:
        _, body = _http("GET", f"http://{host or '127.0.0.1'}:{port}{HEALTH}", 2.0)
    except (OSError, ValueError, http.client.HTTPException):  # unreachable, not HTTP, or no URL
        return False
    roles = _json(body).get("roles")
    return isinstance(roles, dict) and (roles.get("capture") or {}).get("state") == "running"


def _one_frame(plan: Any, opener: Callable[[Any], Any], timeout: float) -> tuple[Any, str]:
    """(frame or None, error) of reading one frame, given up after ``timeout`` seconds."""
    result: dict[str, Any] = {"error": f"nothing within {timeout:g} s"}

    def read() -> None:
        try:
            capture = opener(plan)
            try:
                ok, frame = capture.read()
            finally:
                capture.release()
            if ok and frame is not None:
                result.update(frame=frame, error="")
            else:
                result["error"] = "opened, but no frame came"
        except OSError as e:
            result["error"] = str(e)

    thread = threading.Thread(target=read, name="doctor-camera", daemon=True)
    thread.start()
    thread.join(timeout)
    return result.get("frame"), result["error"]


def check_camera(t: Target, timeout: float, wait_for_daemon: float = 0.0) -> Check:
    """Open the configured source and read one frame (unless the running daemon holds the camera)."""
    from .sources import gstreamer_available, is_jetson, open_capture, plan_source  # noqa: PLC0415

    if t.source is None:
        return Check("camera", WARN, "not checked: no source (--source or --config)")
    deadline = time.monotonic() + wait_for_daemon
    while not (held := _daemon_capturing(t.http_listen)) and time.monotonic() < deadline:
        time.sleep(1.0)
    if held:
        return Check("camera", PASS, f"held by the running daemon, whose capture role runs ({t.http_listen})")
    try:
        plan = plan_source(t.source, gstreamer_available(), is_jetson())
    except ValueError as e:
        return Check("camera", FAIL, str(e))
    frame, error = _one_frame(plan, open_capture, timeout)
    shown = t.source if len(t.source) <= 60 else t.source[:57] + "..."
    if frame is None:
        hint = ("is it a video OpenCV can read?" if plan.kind == "file"
                else "check the cable or URL, and that the user is in group video")
        return Check("camera", FAIL, f"{plan.kind} source {shown!r}: {error}: {hint}")
    height, width = frame.shape[:2]
    if t.device is not None and (width, height) != parse_resolution(t.device.resolution):
        return Check("camera", WARN, f"{width}x{height} frames from {shown!r}, but the profile expects "
                                     f"{t.device.resolution}: set [device] resolution and rebuild the engines")
    return Check("camera", PASS, f"read a {width}x{height} frame from the {plan.kind} source {shown!r}")


def check_server(t: Target, timeout: float = 10.0) -> Check:
    """The server answers its health endpoint."""
    if t.server is None:
        return Check("server", WARN, "not checked: no server (--server or --config)")
    url = t.server.rstrip("/") + HEALTH
    start = time.monotonic()
    try:
        status, body = _http("GET", url, timeout, ca_file=t.ca_file)
    except (ValueError, http.client.InvalidURL) as e:  # urllib's or http.client's verdict on a malformed URL
        return Check("server", FAIL, f"{t.server!r} is not a server URL ({e}): use http(s)://HOST[:PORT]")
    except (OSError, http.client.HTTPException) as e:
        reason = _reason(e)
        hint = "set ca_file for a private CA" if "CERTIFICATE" in reason.upper() else "check the URL, DNS and firewall"
        return Check("server", FAIL, f"cannot reach {url} ({reason}): {hint}")
    if status != 200 or _json(body).get("ok") is not True:
        return Check("server", FAIL, f"{url} answered {status}: not an edgecodec server, or a proxy in between?")
    return Check("server", PASS, f"{url} is healthy ({(time.monotonic() - start) * 1000:.0f} ms)")


def check_token(t: Target, server_ok: bool, timeout: float = 10.0) -> Check:
    """The token file is readable and private, and the server accepts the token for this device."""
    if t.token_file is None:
        return Check("token", WARN, "not checked: no token file (--token-file or --config)")
    try:
        token = t.token_file.read_text(encoding="utf-8").strip()
    except OSError as e:
        return Check("token", FAIL, f"cannot read {t.token_file} ({e.strerror}): put the device's token there "
                                    "(root:root, mode 600) and run doctor as root")
    if not token:
        return Check("token", FAIL, f"{t.token_file} is empty: put the token from `edgecodec token add` there")
    if t.server is None or t.device_id is None or not server_ok:
        return Check("token", WARN, "not verified: no server or device id, or the server is unreachable")
    url = t.server.rstrip("/") + frame_path(t.device_id, PROBE_SEQ)
    try:
        status, body = _http("POST", url, timeout, token, t.ca_file)
    except (OSError, http.client.HTTPException) as e:
        return Check("token", FAIL, f"the token probe to {url} failed ({_reason(e)}): run doctor again")
    if status == 401:
        return Check("token", FAIL, f"the server does not know this token (unknown or revoked): run `edgecodec "
                                    f"token add {t.device_id} --data DIR` on the server and put it in {t.token_file}")
    if status == 403:
        return Check("token", FAIL, f"the token is valid but not for device {t.device_id!r} (another device's, or "
                                    "a viewer token): use this device's token or fix device_id")
    if status != 400 or _json(body).get("reason") != "bad_request":
        return Check("token", FAIL, f"unexpected answer {status} to the token probe: {body[:100]!r}")
    if t.token_file.stat().st_mode & 0o077:
        return Check("token", WARN, f"token accepted, but {t.token_file} is readable by others: chmod 600 it")
    return Check("token", PASS, f"the server accepts this token for device {t.device_id!r} (probe upload refused "
                                "as intended: nothing stored)")


def _size(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def check_disk(t: Target, min_free_ratio: float) -> Check:
    """Free space on the spool's filesystem against the room the spool may still take."""
    if t.spool is None:
        return Check("disk", WARN, "not checked: no spool (--spool or --config)")
    existing = next(p for p in (t.spool, *t.spool.parents) if p.exists())
    if not existing.is_dir():
        return Check("disk", FAIL, f"{existing} is not a directory: the spool must be one (or a path the daemon "
                                   "can create)")
    free = shutil.disk_usage(existing).free
    try:
        spooled = sum(f.stat().st_size for f in t.spool.iterdir() if f.is_file()) if t.spool.is_dir() else 0
    except OSError:
        spooled = 0
    room = max(0, t.spool_max_bytes - spooled)
    bound = f"a spool bounded at {_size(t.spool_max_bytes)} ({_size(spooled)} spooled)"
    if free < MIN_FREE_BYTES:
        return Check("disk", FAIL, f"only {_size(free)} free on {existing}'s filesystem: the daemon cannot spool; "
                                   "free space")
    if free < min_free_ratio * room:
        lower = _size(0.8 * (free + spooled))
        return Check("disk", WARN, f"{_size(free)} free on {existing}'s filesystem for {bound}: the disk fills "
                                   f"first; lower spool_max_bytes to about {lower} or free space")
    return Check("disk", PASS, f"{_size(free)} free on {existing}'s filesystem for {bound}")


def run_checks(t: Target, camera_timeout: float, wait_for_daemon: float, min_free_ratio: float) -> list[Check]:
    """Every check, in the order a newcomer fixes them."""
    server = check_server(t)
    return [check_tensorrt(t.device), check_gpu(t.device), check_camera(t, camera_timeout, wait_for_daemon),
            server, check_token(t, server.status == PASS), check_disk(t, min_free_ratio)]


def probe_capabilities() -> Capabilities:
    """This machine's OpenCV GStreamer support and NVIDIA elements (gst-inspect-1.0 --exists)."""
    from .sources import gstreamer_available  # noqa: PLC0415

    gstreamer, inspect = gstreamer_available(), shutil.which("gst-inspect-1.0")
    if not gstreamer or inspect is None:
        return Capabilities(gstreamer=gstreamer)
    found = [e for e in (NVARGUS, NVDEC, NVCONV)
             if subprocess.run([inspect, "--exists", e], capture_output=True, timeout=60).returncode == 0]
    return Capabilities(True, frozenset(found))
