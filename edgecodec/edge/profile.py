"""Device profiles' schema: a board's hardware facts and camera preset (the ``[device]`` table).

A profile (``devices/<name>.toml``) is a daemon configuration whose ``[device]`` table holds
the board: JetPack, CUDA and TensorRT versions, compute capability, engine precision, frame
size, and a ``[device.capture]`` camera preset. The OpenCV source string of a preset on given
hardware (with the software fallback where an NVIDIA GStreamer element is missing) is a pure
function here, so the tests enumerate it as data. The files a profile renders are in ``deployment``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, Field, ValidationError, model_validator

from ..common.config import ConfigModel
from .sources import RTSP_PIPELINE

NVARGUS, NVDEC, NVCONV = "nvarguscamerasrc", "nvv4l2decoder", "nvvidconv"
APPSINK = "videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1"
CSI_TEMPLATE = ("nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM),width={width},height={height},"
                "framerate={fps}/1 ! nvvidconv ! video/x-raw,format=BGRx ! " + APPSINK)
VERSION = r"^\d+\.\d+(\.\d+)*$"


def parse_resolution(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720); sides even and 64..8192 pixels."""
    match = re.fullmatch(r"(\d{1,5})x(\d{1,5})", text)
    if not match:
        raise ValueError(f"resolution {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720")
    width, height = int(match[1]), int(match[2])
    if not (64 <= width <= 8192 and 64 <= height <= 8192) or width % 2 or height % 2:
        raise ValueError(f"resolution {text!r}: sides must be even and 64..8192 pixels")
    return width, height


def _resolution(text: str) -> str:
    parse_resolution(text)
    return text


Resolution = Annotated[str, AfterValidator(_resolution)]


class CsiCapture(ConfigModel):
    """A CSI camera through the Jetson ISP (nvarguscamerasrc)."""

    kind: Literal["csi"] = Field(description="csi: a CSI camera through nvarguscamerasrc")
    sensor_id: int = Field(default=0, ge=0, le=15, description="sensor-id of nvarguscamerasrc")
    framerate: int = Field(default=30, ge=1, le=240, description="sensor mode frame rate (the daemon paces to fps)")
    fallback: Optional[str] = Field(default=None, min_length=1,
                                    description="source where nvarguscamerasrc is unavailable: /dev/videoN or a file")


class UsbCapture(ConfigModel):
    """A USB (UVC) camera through V4L2."""

    kind: Literal["usb"] = Field(description="usb: a V4L2 camera")
    device: str = Field(default="/dev/video0", pattern=r"^/dev/video\d+$", description="the camera's device node")
    framerate: int = Field(default=30, ge=1, le=240, description="camera mode frame rate (the daemon paces to fps)")
    format: Literal["raw", "mjpeg"] = Field(default="raw", description="what the camera sends: raw (YUYV) or mjpeg")


class RtspCapture(ConfigModel):
    """An IP camera's RTSP stream."""

    kind: Literal["rtsp"] = Field(description="rtsp: an IP camera's stream")
    url: str = Field(pattern=r"^rtsps?://[^\s!]+$", description="rtsp:// URL of the stream (a password as "
                     "${NAME}: the systemd credential or environment variable NAME)")
    codec: Literal["h264", "h265"] = Field(default="h264", description="the stream's video codec")


class FileCapture(ConfigModel):
    """A video file (development machines and tests)."""

    kind: Literal["file"] = Field(description="file: a video file")
    path: str = Field(min_length=1, description="the video file")


Capture = Annotated[Union[CsiCapture, UsbCapture, RtspCapture, FileCapture], Field(discriminator="kind")]


class DeviceProfile(ConfigModel):
    """The board a profile is for (the ``[device]`` table)."""

    board: str = Field(pattern=r"^[\w .()+/-]{1,80}$", description="board name, e.g. Jetson Orin Nano 8GB")
    platform: Literal["jetson", "x86"] = Field(description="jetson (L4T with JetPack) or x86 (development box)")
    memory_gb: int = Field(ge=1, le=4096, description="memory in GB (shared by CPU and GPU on a Jetson)")
    jetpack: list[Annotated[str, Field(pattern=VERSION)]] = Field(
        default_factory=list, description="JetPack releases it supports, e.g. ['6.1', '6.2'] (empty off a Jetson)")
    cuda: Optional[str] = Field(default=None, pattern=VERSION, description="CUDA of that JetPack (none: no GPU)")
    tensorrt: Optional[str] = Field(default=None, pattern=VERSION, description="TensorRT version (none: not installed)")
    compute_capability: Optional[str] = Field(default=None, pattern=r"^\d{1,2}\.\d$",
                                              description="GPU compute capability: 8.7 Orin, 11.0 Thor")
    hardware_decoder: bool = Field(default=False, description="NVDEC through nvv4l2decoder (RTSP decoded in hardware)")
    precision: Literal["fp32", "fp16", "int8"] = Field(
        default="fp16", description="TensorRT engine precision; int8 needs a QAT or calibrated checkpoint")
    resolution: Resolution = Field(description="camera frame size WIDTHxHEIGHT: capture caps and engine shapes")
    engines: Path = Field(default=Path("/var/lib/edgecodec/engines"),
                          description="engine folder (and cache) for `edgecodec export trt`")
    plugin: Optional[Path] = Field(default=None, description="where the installer puts libedgecodec_trt_plugins.so "
                                                             "(none: plugin-free GridSample engines)")
    capture: Capture = Field(description="camera preset: [device.capture] with kind = csi, usb, rtsp or file")

    @model_validator(mode="after")
    def _consistent(self) -> "DeviceProfile":
        if self.platform == "jetson" and not (self.jetpack and self.cuda and self.tensorrt and self.compute_capability):
            raise ValueError("a jetson profile needs jetpack, cuda, tensorrt and compute_capability")
        capture_source(self.capture, self.resolution, declared_capabilities(self))  # the preset must work here
        return self

    @property
    def cuda_arch(self) -> str:
        """CMake/nvcc architecture number: '8.7' -> '87', '11.0' -> '110' ('' without a GPU)."""
        return (self.compute_capability or "").replace(".", "")


@dataclass(frozen=True)
class Capabilities:
    """What a machine's OpenCV can open: GStreamer at all, and which NVIDIA elements exist."""

    gstreamer: bool
    elements: frozenset[str] = frozenset()

    def has(self, *names: str) -> bool:
        """GStreamer is there and so is every named element."""
        return self.gstreamer and all(name in self.elements for name in names)


def declared_capabilities(device: DeviceProfile) -> Capabilities:
    """The hardware a profile declares: JetPack's OpenCV with NVIDIA elements, or pip's OpenCV off a Jetson."""
    if device.platform != "jetson":
        return Capabilities(gstreamer=False)
    return Capabilities(True, frozenset({NVARGUS, NVCONV} | ({NVDEC} if device.hardware_decoder else set())))


def capture_source(capture: Capture, resolution: str, caps: Capabilities) -> str:
    """The daemon's source string for a preset on hardware ``caps``, with the software fallback."""
    width, height = parse_resolution(resolution)
    if isinstance(capture, CsiCapture):
        if caps.has(NVARGUS, NVCONV):
            return CSI_TEMPLATE.format(sensor=capture.sensor_id, width=width, height=height, fps=capture.framerate)
        if capture.fallback is None:
            raise ValueError(f"{NVARGUS} is unavailable (needs a Jetson and an OpenCV with GStreamer) and the csi "
                             "capture has no fallback: set fallback = \"/dev/video0\" or a video file")
        return capture.fallback
    if isinstance(capture, UsbCapture):
        if not caps.gstreamer:
            return capture.device  # OpenCV's V4L2 backend, in the camera's default mode
        caps_name, decode = ("image/jpeg", "jpegdec ! ") if capture.format == "mjpeg" else ("video/x-raw", "")
        return (f"v4l2src device={capture.device} ! {caps_name},width={width},height={height},"
                f"framerate={capture.framerate}/1 ! {decode}{APPSINK}")
    if isinstance(capture, RtspCapture):
        if not caps.has(NVDEC, NVCONV):
            return capture.url  # FFmpeg decodes in software
        pipeline = RTSP_PIPELINE.format(url=capture.url)
        if capture.codec == "h265":
            pipeline = pipeline.replace("rtph264depay ! h264parse", "rtph265depay ! h265parse")
        return pipeline
    return capture.path


def preset_source(device: Any) -> str:
    """The source a ``[device]`` table (raw or validated) declares; '' when the table is invalid.

    Called before the daemon configuration is validated: an invalid table fails that validation
    with its own errors, so the empty placeholder never reaches a valid configuration."""
    try:
        profile = DeviceProfile.model_validate(device)
    except ValidationError:
        return ""
    return capture_source(profile.capture, profile.resolution, declared_capabilities(profile))
