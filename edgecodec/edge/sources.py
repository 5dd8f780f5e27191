"""Which OpenCV capture a source string means: planned as data, opened separately.

Source strings: a video file path, a V4L2 device (``/dev/video0`` or an integer index), a
network stream (``rtsp://``, ``rtsps://``, ``http(s)://``), a GStreamer pipeline (any
string containing ``!``), or the Jetson presets ``csi:N`` (CSI camera through
nvarguscamerasrc). Pipelines need an OpenCV built with GStreamer (JetPack's system
OpenCV; pip's wheels have none); without it, network streams fall back to FFmpeg.
FFmpeg's own log lines are silenced (a failure is reported as one error of ours; OpenCV's
logger is silenced in ``imageio``); setting OPENCV_FFMPEG_LOGLEVEL shows them again.
A ``${NAME}`` in a source (an RTSP password) is substituted only by ``open_capture`` (``credentials``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .credentials import expand

CSI_PIPELINE = ("nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM),width=1920,height=1080,"
                "framerate=30/1 ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! "
                "video/x-raw,format=BGR ! appsink drop=true max-buffers=1")
RTSP_PIPELINE = ("rtspsrc location={url} latency=0 ! rtph264depay ! h264parse ! nvv4l2decoder ! nvvidconv ! "
                 "video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink sync=false "
                 "drop=true max-buffers=1")
NO_GSTREAMER = ("this OpenCV has no GStreamer support (pip's wheels have none): on a Jetson, make the venv "
                "with --system-site-packages and remove pip's opencv so that JetPack's OpenCV is used")
_STREAM = re.compile(r"(rtsps?|https?)://", re.IGNORECASE)


@dataclass(frozen=True)
class SourcePlan:
    """How to open a source: kind, the target for cv2.VideoCapture, the backend's CAP_ name, liveness."""

    kind: str  # "file" | "v4l2" | "stream" | "gstreamer"
    target: str | int
    api: str  # name of a cv2.CAP_* constant
    live: bool  # a live camera is never slowed down: a full queue drops frames


def plan_source(spec: str, gstreamer: bool, jetson: bool) -> SourcePlan:
    """Map a source string to a capture plan (pure: the tests enumerate it as data)."""
    spec = spec.strip()
    if not spec:
        raise ValueError("empty source")
    if spec.isdigit() or re.fullmatch(r"/dev/video\d+", spec):
        return SourcePlan("v4l2", int(spec) if spec.isdigit() else spec, "CAP_V4L2", True)
    if spec.startswith("csi:"):
        if not spec[4:].isdigit():
            raise ValueError(f"bad CSI source {spec!r}: expected csi:N with a sensor id")
        return _pipeline(CSI_PIPELINE.format(sensor=int(spec[4:])), gstreamer)
    if _STREAM.match(spec):
        if jetson and gstreamer and spec.lower().startswith("rtsp"):
            return SourcePlan("gstreamer", RTSP_PIPELINE.format(url=spec), "CAP_GSTREAMER", True)
        return SourcePlan("stream", spec, "CAP_FFMPEG", True)
    if "!" in spec:
        return _pipeline(spec, gstreamer)
    if not Path(spec).is_file():
        raise ValueError(f"source {spec!r} is not a file, a /dev/videoN device, an index, a URL or a pipeline")
    return SourcePlan("file", spec, "CAP_ANY", False)


def _pipeline(pipeline: str, gstreamer: bool) -> SourcePlan:
    if not gstreamer:
        raise ValueError(NO_GSTREAMER)
    return SourcePlan("gstreamer", pipeline, "CAP_GSTREAMER", True)


def gstreamer_available() -> bool:
    """Whether this OpenCV build can open GStreamer pipelines."""
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def is_jetson() -> bool:
    """An NVIDIA Jetson (L4T) board."""
    return Path("/etc/nv_tegra_release").exists()


def open_capture(plan: SourcePlan):
    """Open the planned source with its ``${NAME}`` secrets substituted (FFmpeg kept quiet); raises OSError
    when a secret is unset or OpenCV cannot open it (the message shows the source unsubstituted)."""
    import cv2

    try:
        target = expand(plan.target) if isinstance(plan.target, str) else plan.target
    except ValueError as e:
        raise OSError(f"cannot open {plan.kind} source {plan.target!r}: {e}") from None
    # OpenCV reads it once, when its FFmpeg backend initialises (the first capture); -8 is AV_LOG_QUIET
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cap = cv2.VideoCapture(target, getattr(cv2, plan.api))
    if not cap.isOpened():
        cap.release()
        why = ": not a video OpenCV can read, or a corrupt one" if plan.kind == "file" else ""
        raise OSError(f"cannot open {plan.kind} source {plan.target!r}{why}")
    return cap
