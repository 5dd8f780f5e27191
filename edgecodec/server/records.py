"""What the index knows about a stored frame, and per-camera statistics over recent frames."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from ..codec import bitstream
from ..common.protocol import frame_path

WINDOW = 30  # frames used for a camera's fps, bitrate and lag


@dataclass(frozen=True)
class FrameRecord:
    """One stored frame."""

    device_id: str
    seq: int
    sha256: str
    size: int
    path: str  # relative to the data directory
    capture_us: int
    received_us: int
    model_id: str
    quality: float
    width: int
    height: int
    decode_error: str | None = None
    kind: str = "key"  # or "delta": decoded against frame ref_seq of the same device (a key or delta frame)
    ref_seq: int | None = None

    @classmethod
    def of(cls, header: bitstream.Header, device_id: str, seq: int, sha256: str, size: int, path: str,
           capture_us: int, received_us: int) -> "FrameRecord":
        """The record of a stored frame with this (validated) header."""
        return cls(device_id, seq, sha256, size, path, capture_us, received_us, header.model_id.hex(),
                   header.quality, header.width, header.height, None, bitstream.KIND_NAMES[header.kind],
                   header.ref_seq if header.is_delta else None)

    def to_json(self) -> dict:
        doc = asdict(self)
        doc.pop("path")
        doc["ecb_url"] = frame_path(self.device_id, self.seq, ".ecb")
        doc["png_url"] = frame_path(self.device_id, self.seq, ".png")
        return doc


def camera_stats(device_id: str, frames: int, recent: list[FrameRecord], now_us: int | None = None) -> dict:
    """A camera's summary from its newest frames (``recent``, newest first)."""
    now_us = now_us if now_us is not None else time.time_ns() // 1000
    doc = {"device_id": device_id, "frames": frames, "latest": None, "fps": None, "bitrate_bps": None,
           "lag_s": None, "age_s": None}
    if not recent:
        return doc
    latest = recent[0]
    doc["latest"] = latest.to_json()
    doc["lag_s"] = round(max(0, latest.received_us - latest.capture_us) / 1e6, 3)
    doc["age_s"] = round(max(0, now_us - latest.received_us) / 1e6, 3)
    span = (latest.capture_us - recent[-1].capture_us) / 1e6
    if len(recent) > 1 and span > 0:
        doc["fps"] = round((len(recent) - 1) / span, 3)
        doc["bitrate_bps"] = round(8 * sum(r.size for r in recent[:-1]) / span, 1)
    return doc
