"""Streams from a fixed camera: key frames, and delta frames against the key frame or the previous frame.

    frame ─► StreamEncoder ─┬─ key frame when: the first, after force_key(), every key_interval
                            │  frames, a quality change, a scene change (the delta frame costs more
                            │  than scene_change x this frame as a key frame)
                            └─ delta frame otherwise: skip + conditional coding against its reference

    references (chain = 3):   K ◄─ d1 ◄─ d2 ◄─ d3    K ◄─ d4 ◄─ d5 ◄─ d6    K ◄─ d7 ...
                              chains of at most `chain` delta frames, each referencing the frame
                              before it; the next chain starts again from the key frame (the long-term
                              reference), and so does the frame after restart_chain()

A delta frame referencing the previous frame pays only for what changed since then (people
walking), where one referencing the key frame pays again for everything that changed since the
key frame. The chain bounds what a frame needs: itself and at most ``chain`` earlier frames'
latents (entropy decode only), back to its key frame; losing a delta frame breaks at most the
rest of its chain. ``chain = 1``: every delta frame references the key frame (random access from
itself and its key frame). The decoder side keeps the references it has seen, by sequence
number, and refuses a delta frame whose reference it lacks or holds in another version.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bitstream
from .bitstream import CHAIN, MAX_REFERENCE_DEPTH
from .facade import Analysed, Codec, Reference


@dataclass(frozen=True)
class StreamPolicy:
    """When the stream encoder codes a key frame, and how eagerly it skips."""

    key_interval: int = 600  # frames between key frames (at most); 0: only the first and scene changes
    scene_change: float = 0.5  # a delta frame above this share of the frame as a key frame -> key frame
    intra: bool = False  # every frame a key frame
    skip_bias: float = 0.5  # weight of a skip's distortion in the decision (1: the model's own trade-off;
    # 0.5 measured 8.7% better BD-rate on vtest.avi's held-out half at 1 fps, docs/RESULTS.md section 9)
    chain: int = CHAIN  # the most delta frames from a frame back to its key frame (1: all reference the key)

    def __post_init__(self):
        if not (isinstance(self.key_interval, int) and self.key_interval >= 0):
            raise ValueError(f"key interval must be a whole number of frames >= 0, got {self.key_interval!r}")
        if not 0 < self.scene_change <= 1:
            raise ValueError(f"scene-change share must be in (0, 1], got {self.scene_change!r}")
        if not 0 < self.skip_bias <= 16:
            raise ValueError(f"skip bias must be in (0, 16], got {self.skip_bias!r}")
        if not (isinstance(self.chain, int) and 1 <= self.chain <= MAX_REFERENCE_DEPTH):
            raise ValueError(f"chain must be a whole number of frames in 1..{MAX_REFERENCE_DEPTH}, got {self.chain!r}")


@dataclass(frozen=True)
class EncodedFrame:
    """One coded frame and how it was coded."""

    data: bytes
    seq: int
    kind: int  # bitstream.KEY or bitstream.DELTA
    skipped: float  # share of positions taken from the reference (0 for a key frame)
    ref_seq: int | None = None  # the frame a delta frame references


class StreamEncoder:
    """Holds the key frame (the long-term reference) and the previous frame of the chain; ``encode``
    returns each frame's bytes."""

    def __init__(self, codec: Codec, quality: float, policy: StreamPolicy = StreamPolicy()):
        self.codec, self.quality, self.policy = codec, quality, policy
        self.reference: Reference | None = None  # the key frame
        self.previous: Reference | None = None  # the last delta frame, while the chain may grow
        self._since_key = 0
        self._next_seq = 0

    def force_key(self) -> None:
        """Make the next frame a key frame (after a restart, a lost reference, an eviction)."""
        self.reference = self.previous = None

    def restart_chain(self) -> None:
        """Make the next delta frame reference the key frame (the previous frame was lost)."""
        self.previous = None

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
        base = self.previous or ref
        result = self.codec.encode_delta(a, seq, base, self.policy.skip_bias)
        if len(result.data) > self.policy.scene_change * result.key_bytes:
            return self._key(a, seq)
        self._since_key += 1
        self.previous = result.reference if result.reference.depth < self.policy.chain else None
        return EncodedFrame(result.data, seq, bitstream.DELTA, result.skipped, base.seq)

    def _wants_key(self, ref: Reference | None, width: int, height: int, quality: float) -> bool:
        p = self.policy
        return (p.intra or ref is None or (ref.width, ref.height, ref.quality) != (width, height, quality)
                or (p.key_interval and self._since_key + 1 >= p.key_interval))

    def _key(self, a: Analysed, seq: int) -> EncodedFrame:
        data, ref = self.codec.encode_key(a, seq, keep_image=not self.policy.intra)
        self.reference = None if self.policy.intra else ref
        self.previous = None
        self._since_key = 0
        return EncodedFrame(data, seq, bitstream.KEY, 0.0)


class StreamDecoder:
    """Decodes a stream's frames in any order, given each delta frame's reference first (its key frame,
    or the previous frame of its chain)."""

    def __init__(self, codec: Codec, max_references: int = 4,
                 max_pixels: int = bitstream.DEFAULT_MAX_PIXELS):
        self.codec, self.max_references, self.max_pixels = codec, max_references, max_pixels
        self.references: dict[int, Reference] = {}

    def decode(self, data: bytes) -> np.ndarray:
        """Decode one frame (it becomes a reference); ValueError when it cannot be."""
        header, _ = bitstream.read_header(data, self.max_pixels)
        base = self.references.get(header.ref_seq) if header.is_delta else None
        ref = self.codec.reference(data, base, self.max_pixels)
        self.references[ref.seq] = ref
        for keys in (True, False):  # the newest max_references key frames, and as many delta frames
            seqs = sorted(s for s, r in self.references.items() if (r.depth == 0) == keys)
            for seq in seqs[:-self.max_references]:
                del self.references[seq]
        return self.codec.decode_reference(ref)
