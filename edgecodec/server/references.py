"""What a delta frame needs to decode: its key frame, stored under the same device.

    delta frame d (device D, ref_seq K) ─► index.get(D, K) ─┬─ none:      424 reference_missing (not recorded:
                                                             │              the key frame may still arrive)
                                                             ├─ a delta:  BadReference (recorded on d)
                                                             ├─ failed:   BadReference (recorded on d)
                                                             └─ key frame: decode d from it (the latent hash
                                                                           in d's header must match it)

A reference is looked up by (device, sequence number) only, so a frame can never reference
another camera's frames; references point to earlier frames (the bitstream parser refuses
anything else), so there are no cycles.
"""
from __future__ import annotations

from .auth import Refused
from .records import FrameRecord


class BadReference(ValueError):
    """A delta frame whose stored reference can never serve it (recorded as its decode error)."""


def reference_missing(rec: FrameRecord) -> Refused:
    """424: the delta frame's key frame has not arrived (yet)."""
    return Refused(424, "reference_missing", f"frame {rec.seq} of {rec.device_id} is a delta frame and its key "
                                             f"frame {rec.ref_seq} has not arrived")


async def reference_of(index, rec: FrameRecord) -> FrameRecord | None:
    """The key frame ``rec`` decodes from (None for a key frame); Refused 424 when it is not stored,
    BadReference when it is stored but cannot serve."""
    if rec.kind != "delta":
        return None
    if rec.ref_seq is None or not 0 <= rec.ref_seq < rec.seq:
        raise BadReference(f"frame {rec.seq} has no valid reference")
    ref = await index.get(rec.device_id, rec.ref_seq)
    if ref is None:
        raise reference_missing(rec)
    if ref.kind != "key":
        raise BadReference(f"its reference, frame {ref.seq}, is a delta frame: only key frames are references")
    if ref.decode_error is not None:
        raise BadReference(f"its key frame {ref.seq} does not decode ({ref.decode_error})")
    return ref
