"""The daemon's configuration (``device.toml`` and command-line flags; flags win)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, FilePath, field_validator, model_validator

from ..codec.bitstream import CHAIN, DEFAULT_MAX_PIXELS, MAX_REFERENCE_DEPTH, MAX_SIDE
from ..common.config import ConfigModel, ListenAddress
from ..common.protocol import check_device_id
from ..runtime import ENGINE_BACKENDS, Backend
from .profile import DeviceProfile, parse_resolution, preset_source


class DaemonConfig(ConfigModel):
    """Everything the camera daemon needs; unknown keys are errors."""

    source: str = Field(description="video file, /dev/videoN or index, rtsp:// URL, GStreamer pipeline, or csi:N "
                                    "(default: from the [device.capture] preset); ${NAME} in it is replaced, when "
                                    "the source is opened, by the systemd credential or environment variable NAME")
    server: str = Field(pattern=r"^https?://[^\s/]+",
                        description="ingest server base URL, e.g. https://nvr.example:8443")
    device_id: str = Field(description="this camera's id: 1..64 of [A-Za-z0-9._-], not starting with '.'")
    token_file: FilePath = Field(description="file holding this device's bearer token (re-read after a 401)")
    spool: Path = Field(description="directory of the durable upload spool and the sequence state")
    fps: Optional[float] = Field(default=None, ge=0, description="capture at most this many frames/s "
                                 "(default: a file's own rate, a live source as delivered; 0: no pacing)")
    quality: float = Field(default=50.0, ge=0, le=100, description="codec quality 0..100")
    key_interval_s: float = Field(default=60.0, ge=0, description="longest capture time between key frames "
                                  "(0: only at the start, after a restart and on scene changes)")
    scene_change: float = Field(default=0.5, gt=0, le=1, description="a delta frame costing more than this share "
                                "of the frame coded as a key frame is coded as a key frame instead")
    chain: int = Field(default=CHAIN, ge=1, le=MAX_REFERENCE_DEPTH, description="delta frames from a frame back "
                       "to its key frame, at most: each references the frame before it, which costs fewer bits for "
                       "moving content, but a frame then needs more frames to decode (random access) and a lost "
                       "frame breaks the rest of its chain (1: every delta frame references its key frame)")
    intra: bool = Field(default=False, description="code every frame as a key frame (no delta frames)")
    max_frames: Optional[int] = Field(default=None, ge=1, description="stop after capturing this many frames")
    loop: bool = Field(default=False, description="restart a video file at its end")
    model: Optional[str] = Field(default=None, description="checkpoint path or configuration name (default: embedded)")
    backend: Backend = Field(
        default="torch", description="runtime of the encoder transform (tensorrt: the engines of the [device] "
                                     "table, built by `edgecodec export trt`)")
    threads: int = Field(default=1, ge=1, le=64, description="PyTorch threads for encoding")
    backpressure: Literal["auto", "drop", "block"] = Field(
        default="auto", description="full capture queue: drop (count) new frames, or block the reader; "
                                    "auto drops for live sources and blocks for files")
    queue_size: int = Field(default=8, ge=1, le=1024, description="frames between capture and encode")
    spool_max_bytes: int = Field(default=1 << 30, ge=1 << 16,
                                 description="spool size bound; oldest frames evicted beyond it")
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, ge=1, le=MAX_SIDE ** 2,
                            description="largest frame in pixels: a larger one is dropped (counted) before encoding, "
                                        "and spooled frames are checked against it; the server's max_pixels must "
                                        "be at least this")
    seq_block: int = Field(default=1000, ge=1, description="sequence numbers reserved per fsync'd state write")
    http_listen: ListenAddress = Field(default="127.0.0.1:9464", pattern=r"^[^\s:]*:\d{1,5}$",
                             description="HOST:PORT of /healthz and /metrics (port 0: any free port)")
    upload_timeout_s: float = Field(default=30.0, gt=0, description="timeout of one upload request")
    backoff_initial_s: float = Field(default=0.5, gt=0, description="first retry delay after a failed upload")
    backoff_max_s: float = Field(default=60.0, gt=0, description="cap of the exponential retry delay (full jitter)")
    drain_timeout_s: float = Field(default=30.0, ge=0, description="at the end or on SIGTERM, keep uploading this "
                                                                  "long; what is left stays spooled for the next start")
    max_restarts: int = Field(default=5, ge=0, description="restarts of a crashed role before the daemon gives up")
    ca_file: Optional[FilePath] = Field(default=None, description="CA bundle for a server with a private certificate")
    device: Optional[DeviceProfile] = Field(default=None, description="the board, in a device profile "
                                            "(devices/*.toml): versions, engine precision, frame size, capture preset")

    @model_validator(mode="before")
    @classmethod
    def _source_from_preset(cls, data: Any) -> Any:
        """Without a ``source``, the [device.capture] preset gives it, for the hardware the profile declares."""
        if isinstance(data, dict) and data.get("source") is None and data.get("device") is not None:
            data = {**data, "source": preset_source(data["device"])}
        return data

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, value: str) -> str:
        return check_device_id(value)

    @field_validator("spool")
    @classmethod
    def _spool(cls, value: Path) -> Path:
        """The spool is, or can become, a directory: its nearest existing path must be one."""
        existing = next(p for p in (value, *value.parents) if p.exists())
        if not existing.is_dir():
            raise ValueError(f"{existing} is not a directory")
        return value

    @model_validator(mode="after")
    def _engines_declared(self) -> "DaemonConfig":
        """An engine backend runs the engines of the profile's [device] table."""
        if self.backend in ENGINE_BACKENDS and self.device is None:
            raise ValueError(f"backend {self.backend} needs a [device] table naming the engines folder "
                             "(a profile of devices/)")
        return self

    @model_validator(mode="after")
    def _frame_fits(self) -> "DaemonConfig":
        """The profile's camera frames must pass the daemon's own pixel limit."""
        if self.device is not None:
            width, height = parse_resolution(self.device.resolution)
            if width * height > self.max_pixels:
                raise ValueError(f"device.resolution {self.device.resolution} is {width * height} pixels, over "
                                 f"max_pixels ({self.max_pixels}): set max_pixels (and the server's) to at least "
                                 f"{width * height}")
        return self
