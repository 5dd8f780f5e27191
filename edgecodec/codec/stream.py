"""Streams from a fixed camera: key frames and delta frames against a long-term reference.

    frame ─► StreamEncoder ─┬─ key frame when: the first, after force_key(), every key_interval
                            │  frames, a quality change, a scene change (the delta frame costs more
                            │  than scene_change x this frame as a key frame); it becomes the reference
                            └─ delta frame otherwise: skip + conditional coding against the reference

Delta frames reference only the last key frame (never another delta frame), so losing a
delta frame breaks nothing else, and any frame decodes from at most itself and its key
frame (random access). The decoder side keeps the references it has seen, by sequence
number, and refuses a delta frame whose reference it lacks or holds in another version.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bitstream
from .facade import Analysed, Codec, Reference


@dataclass(frozen=True)
class StreamPolicy:
    """When the stream encoder codes a key frame, and how eagerly it skips."""

    key_interval: int = 600  # frames between key frames (at most); 0: only the first and scene changes
    scene_change: float = 0.5  # a delta frame above this share of the frame as a key frame -> key frame
    intra: bool = False  # every frame a key frame
    skip_bias: float = 0.5  # weight of a skip's distortion in the decision (1: the model's own trade-off;
    # 0.5 measured 8.7% better BD-rate on vtest.avi's held-out half at 1 fps, docs/RESULTS.md section 9)

    def __post_init__(self):
        if not (isinstance(self.key_interval, int) and self.key_interval >= 0):
            raise ValueError(f"key interval must be a whole number of frames >= 0, got {self.key_interval!r}")
        if not 0 < self.scene_change <= 1:
            raise ValueError(f"scene-change share must be in (0, 1], got {self.scene_change!r}")
        if not 0 < self.skip_bias <= 16:
            raise ValueError(f"skip bias must be in (0, 16], got {self.skip_bias!r}")


@dataclass(frozen=True)
class EncodedFrame:
    """One coded frame and how it was coded."""

    data: bytes
    seq: int
    kind: int  # bitstream.KEY or bitstream.DELTA
    skipped: float  # share of positions taken from the reference (0 for a key frame)


class StreamEncoder:
    """Holds the long-term reference; ``encode`` returns each frame's bytes."""

    def __init__(self, codec: Codec, quality: float, policy: StreamPolicy = StreamPolicy()):
        self.codec, self.quality, self.policy = codec, quality, policy
        self.reference: Reference | None = None
        self._since_key = 0
        self._next_seq = 0

    def force_key(self) -> None:
        """Make the next frame a key frame (after a restart, a lost reference, an eviction)."""
        self.reference = None

    def encode(self, image: np.ndarray, seq: int | None = None, quality: float | None = None) -> EncodedFrame:
        """Code the next frame; ``seq`` (default: one more than the last) must increase."""
        seq = self._next_seq if seq is None else seq
        if seq < self._next_seq:
            raise ValueError(f"sequence numbers must increase: {seq} after {self._next_seq - 1}")
        if quality is not None:
            self.quality = quality
        a = self.codec.analyse(image, self.quality)
        self._next_seq = seq + 1
        ref = self.reference
        if self._wants_key(ref, a.width, a.height, a.quality):
            return self._key(a, seq)
        result = self.codec.encode_delta(a, seq, ref, self.policy.skip_bias)
        if len(result.data) > self.policy.scene_change * result.key_bytes:
            return self._key(a, seq)
        self._since_key += 1
        return EncodedFrame(result.data, seq, bitstream.DELTA, result.skipped)

    def _wants_key(self, ref: Reference | None, width: int, height: int, quality: float) -> bool:
        p = self.policy
        return (p.intra or ref is None or (ref.width, ref.height, ref.quality) != (width, height, quality)
                or (p.key_interval and self._since_key + 1 >= p.key_interval))

    def _key(self, a: Analysed, seq: int) -> EncodedFrame:
        data, ref = self.codec.encode_key(a, seq, keep_image=not self.policy.intra)
        self.reference = None if self.policy.intra else ref
        self._since_key = 0
        return EncodedFrame(data, seq, bitstream.KEY, 0.0)


class StreamDecoder:
    """Decodes a stream's frames in any order, given each delta frame's key frame first."""

    def __init__(self, codec: Codec, max_references: int = 4,
                 max_pixels: int = bitstream.DEFAULT_MAX_PIXELS):
        self.codec, self.max_references, self.max_pixels = codec, max_references, max_pixels
        self.references: dict[int, Reference] = {}

    def decode(self, data: bytes) -> np.ndarray:
        """Decode one frame (a key frame becomes a reference); ValueError when it cannot be."""
        header, _ = bitstream.read_header(data, self.max_pixels)
        if header.is_delta:
            return self.codec.decode(data, self.references.get(header.ref_seq), self.max_pixels)
        ref = self.codec.reference(data, self.max_pixels)
        self.references[ref.seq] = ref
        while len(self.references) > self.max_references:
            del self.references[min(self.references)]
        return self.codec.decode_reference(ref)
