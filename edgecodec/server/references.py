"""What a delta frame needs to decode: its chain of references back to its key frame, under its own device.

    delta frame d (device D) ─► index.get(D, d.ref_seq) ─► index.get(D, its ref_seq) ─► ... ─► key frame K,
    each link ─┬─ none:        424 reference_missing (not recorded: it may still arrive)
               ├─ failed:      BadReference (recorded on d)
               ├─ delta frame: the next link; more than MAX_REFERENCE_DEPTH delta frames from d to K
               │               (d included): BadReference (recorded on d)
               └─ key frame:   the chain [K, ..., d's reference]: d decodes from it link by link (each
                               header's latent hash must match the link before it)

Links are looked up by (device, sequence number) only, so a frame can never reference another
camera's frames, and each must point to an earlier frame, so there are no cycles.
"""
from __future__ import annotations

from ..codec.bitstream import MAX_REFERENCE_DEPTH
from .auth import Refused
from .records import FrameRecord
from .storage import FrameStore


class BadReference(ValueError):
    """A delta frame whose stored references can never serve it (recorded as its decode error)."""


def reference_missing(rec: FrameRecord, missing: int) -> Refused:
    """424: a frame of the delta frame's chain has not arrived (yet)."""
    return Refused(424, "reference_missing", f"frame {rec.seq} of {rec.device_id} is a delta frame and frame "
                                             f"{missing}, which it decodes from, has not arrived")


def _points_back(rec: FrameRecord) -> bool:
    """A delta frame with a valid reference: an earlier frame."""
    return rec.kind == "delta" and rec.ref_seq is not None and 0 <= rec.ref_seq < rec.seq


def _too_deep() -> BadReference:
    return BadReference(f"it is more than {MAX_REFERENCE_DEPTH} delta frames from its key frame "
                        f"(at most {MAX_REFERENCE_DEPTH} are decoded)")


async def references_of(index, rec: FrameRecord) -> list[FrameRecord]:
    """The frames ``rec`` decodes from, its key frame first and its own reference last ([] for a key frame);
    Refused 424 when one is not stored, BadReference when one cannot serve."""
    chain: list[FrameRecord] = []
    link = rec
    while link.kind == "delta":
        if len(chain) >= MAX_REFERENCE_DEPTH:
            raise _too_deep()
        if not _points_back(link):
            raise BadReference(f"frame {link.seq} has no valid reference")
        ref = await index.get(rec.device_id, link.ref_seq)
        if ref is None:
            raise reference_missing(rec, link.ref_seq)
        if ref.decode_error is not None:
            raise BadReference(f"frame {ref.seq}, which it decodes from, does not decode")
        chain.append(ref)
        link = ref
    return chain[::-1]


def chain_files(store: FrameStore, chain: list[FrameRecord]) -> list[tuple[str, str]]:
    """(file, SHA-256) of each frame of a chain: decode_job's ``chain``."""
    return [(str(store.ecb_file(r.path)), r.sha256) for r in chain]


async def chains_missing(index, device_id: str, frames: list[FrameRecord]) -> set[int]:
    """The delta frames among ``frames`` (one device's) with a frame of their chain not stored: those a PNG
    request answers 424. One index query per link beyond ``frames``, for all of them together."""
    known: dict[int, FrameRecord | None] = {f.seq: f for f in frames}
    wanted = _unknown_references(frames, known)
    for _ in range(MAX_REFERENCE_DEPTH):
        if not wanted:
            break
        found = await index.get_many(device_id, wanted)
        known.update({seq: found.get(seq) for seq in wanted})
        wanted = _unknown_references(found.values(), known)
    return {f.seq for f in frames if _chain_broken(f, known)}


def _unknown_references(recs, known: dict) -> list[int]:
    return sorted({r.ref_seq for r in recs if _points_back(r) and r.ref_seq not in known})


def _chain_broken(rec: FrameRecord, known: dict[int, FrameRecord | None]) -> bool:
    """Whether references_of(rec) would answer 424 (the links it looks up are all in ``known``)."""
    link = rec
    for _ in range(MAX_REFERENCE_DEPTH):
        if not _points_back(link):
            return False
        link = known[link.ref_seq]
        if link is None or link.decode_error is not None:  # not stored: 424; failed: 422
            return link is None
    return False
