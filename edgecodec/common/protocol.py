"""The edge-to-server HTTP protocol (see docs/api.md): routes, headers, content types and the checks
both sides make. The server registers its routes from these templates; clients build URLs with the
functions."""
from __future__ import annotations

import re
from urllib.parse import quote

API_PREFIX = "/api/v1"
DEVICES = f"{API_PREFIX}/devices"  # GET (viewer): the cameras
FRAMES = DEVICES + "/{device_id}/frames"  # GET (viewer): a camera's frames, ?since=&until=&limit=
FRAME = FRAMES + "/{seq}"  # POST (device): upload one frame
FRAME_ECB = FRAME + ".ecb"  # GET (viewer): the stored bitstream
FRAME_PNG = FRAME + ".png"  # GET (viewer): the server's decode
FRAME_JPG = FRAME + ".jpg"  # GET (viewer): the decode as a JPEG snapshot, ?h= scales it
LATEST_JPG = DEVICES + "/{device_id}/latest.jpg"  # GET (viewer): the newest frame's snapshot, ?h=
HEALTH = "/healthz"  # GET: health (the server's and the daemon's), no token
METRICS = "/metrics"  # GET: Prometheus text (the server's and the daemon's), no token
PAGE = "/"  # GET: the viewer page

ECB_CONTENT_TYPE = "application/vnd.edgecodec.ecb"
PNG_CONTENT_TYPE = "image/png"
JPEG_CONTENT_TYPE = "image/jpeg"
CAPTURE_HEADER = "X-Edgecodec-Capture-Us"
MAX_SEQ = (1 << 63) - 1
MAX_CAPTURE_US = 1 << 62
_DEVICE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


def valid_device_id(name: str) -> bool:
    """Device and viewer names: [A-Za-z0-9._-]{1,64}, not starting with '.' (safe as a path part)."""
    return isinstance(name, str) and _DEVICE_ID.fullmatch(name) is not None


def check_device_id(name: str) -> str:
    """Return ``name`` or raise ValueError with the rule it breaks."""
    if not valid_device_id(name):
        raise ValueError(f"invalid name {name!r}: use 1..64 of [A-Za-z0-9._-], not starting with '.'")
    return name


def parse_seq(text: str) -> int:
    """A frame sequence number from a URL part: a decimal integer in 0..2^63-1."""
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_SEQ:
        raise ValueError(f"invalid sequence number {text[:32]!r}: expected an integer 0..{MAX_SEQ}")
    return int(text)


def parse_capture_us(text: str) -> int:
    """The capture-time header: integer microseconds since the Unix epoch."""
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_CAPTURE_US:
        raise ValueError(f"invalid {CAPTURE_HEADER} {text[:32]!r}: expected integer microseconds since 1970")
    return int(text)


def frames_path(device_id: str) -> str:
    """URL path of a camera's frame listing, e.g. /api/v1/devices/cam1/frames."""
    return FRAMES.format(device_id=quote(device_id, safe=""))


def frame_path(device_id: str, seq: int | str, suffix: str = "") -> str:
    """URL path of one frame, e.g. /api/v1/devices/cam1/frames/42 (suffix '.ecb' or '.png' for reads).
    ``seq`` is a string only for doctor's probe, which the server must refuse."""
    return FRAME.format(device_id=quote(device_id, safe=""), seq=seq) + suffix
