"""The .ecb frame format (versions 1 and 2): the one module that reads and writes frames.

All fields little-endian, fixed width (docs/bitstream.md). Version 2, written today:

    off  size  field
      0     4  magic  b"ECB\\x1a"
      4     1  format version (2)
      5     1  frame kind: 0 key (intra), 1 delta (coded against a reference)
      6     2  quality in hundredths (0..10000)
      8    16  model id (key: the intra model's; delta: the intra and conditional models')
     24     4  image width  (1..MAX_SIDE)
     28     4  image height (1..MAX_SIDE)
     32     8  sequence number of this frame
     40     8  reference's sequence number (delta; 0 for a key frame)
     48     8  reference's latent hash (delta; zeros for a key frame)
     56     4  length of the skip-flag stream (0 for a key frame)
     60     4  length of the hyper-latent (z) stream
     64     4  length of the latent (y) stream
     68     4  CRC-32 of bytes 0..67 and of the payload
     72     -  skip flags, z stream, y stream (nothing after)

Version 1 (still decoded): a key frame with no sequence number; bytes 0..31 as above
with version 1 and flags 0 at byte 5, then z length, y length, CRC, z, y (44-byte header).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import NamedTuple

MAGIC = b"ECB\x1a"
VERSION = 2
KEY, DELTA = 0, 1
KIND_NAMES = {KEY: "key", DELTA: "delta"}
HEADER_V1 = struct.Struct("<4sBBH16sIIII")
HEADER = struct.Struct("<4sBBH16sIIQQ8sIII")
CRC = struct.Struct("<I")
HEADER_SIZE = HEADER.size + CRC.size
HEADER_SIZE_V1 = HEADER_V1.size + CRC.size
MIN_SIZE = min(HEADER_SIZE, HEADER_SIZE_V1)
MAX_SIDE = 1 << 16
MAX_SEQ = (1 << 63) - 1
DEFAULT_MAX_PIXELS = 1 << 24  # 16.7 MP; decoding memory grows linearly with it
MAX_REFERENCE_DEPTH = 16  # delta frames between a decodable frame and its key frame, at most (bounds random access)
CHAIN = 10  # the stream encoder's default chain length (codec/stream.py; here, configurations read it without torch)
NO_HASH = bytes(8)


class BitstreamError(ValueError):
    """The bytes are not a valid .ecb file (or exceed the decoder's limits)."""


class ImageTooLarge(BitstreamError):
    """A valid header whose image is larger than the caller's pixel limit."""


@dataclass(frozen=True)
class Header:
    """Decoded header fields (``ref_seq`` / ``ref_hash`` only mean something for a delta frame)."""

    width: int
    height: int
    quality: float
    model_id: bytes
    kind: int = KEY
    seq: int = 0
    ref_seq: int = 0
    ref_hash: bytes = NO_HASH
    version: int = VERSION

    @property
    def is_delta(self) -> bool:
        return self.kind == DELTA

    def to_json(self) -> dict:
        out = {"version": self.version, "kind": KIND_NAMES[self.kind], "width": self.width,
               "height": self.height, "quality": self.quality, "model_id": self.model_id.hex()}
        if self.version >= 2:
            out["seq"] = self.seq
        if self.is_delta:
            out.update(ref_seq=self.ref_seq, ref_hash=self.ref_hash.hex())
        return out


class Frame(NamedTuple):
    """A parsed frame: its header and payload streams (key: z, y; delta: flags, z, y)."""

    header: Header
    streams: tuple[bytes, ...]


def pack(header: Header, streams: tuple[bytes, ...]) -> bytes:
    """Serialise a header and its streams as a version-2 frame."""
    _check_fields(header)
    expected = 3 if header.is_delta else 2
    if len(streams) != expected:
        raise BitstreamError(f"a {KIND_NAMES[header.kind]} frame has {expected} streams, got {len(streams)}")
    flags, z, y = streams if header.is_delta else (b"",) + tuple(streams)
    q = int(round(header.quality * 100))
    head = HEADER.pack(MAGIC, VERSION, header.kind, q, header.model_id, header.width, header.height,
                       header.seq, header.ref_seq, header.ref_hash, len(flags), len(z), len(y))
    crc = zlib.crc32(flags + z + y, zlib.crc32(head))
    return head + CRC.pack(crc) + flags + z + y


def _check_fields(header: Header) -> None:
    if not (1 <= header.width <= MAX_SIDE and 1 <= header.height <= MAX_SIDE):
        raise BitstreamError(f"image size {header.width}x{header.height} outside 1..{MAX_SIDE}")
    if len(header.model_id) != 16:
        raise BitstreamError("model id must be 16 bytes")
    if not 0.0 <= header.quality <= 100.0:  # also rejects NaN
        raise BitstreamError(f"quality {header.quality} outside 0..100")
    if header.kind not in KIND_NAMES:
        raise BitstreamError(f"unknown frame kind {header.kind}")
    if not (0 <= header.seq <= MAX_SEQ and 0 <= header.ref_seq <= MAX_SEQ) or len(header.ref_hash) != 8:
        raise BitstreamError("sequence numbers must be in 0..2**63-1 and the reference hash 8 bytes")
    if header.is_delta and header.ref_seq >= header.seq:
        raise BitstreamError(f"a delta frame ({header.seq}) must reference an earlier frame, not {header.ref_seq}")
    if not header.is_delta and (header.ref_seq or header.ref_hash != NO_HASH):
        raise BitstreamError("a key frame has no reference: ref_seq must be 0 and ref_hash zeros")


def read_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, tuple[int, ...]]:
    """Validate the fixed header (not the CRC); returns (header, stream lengths)."""
    header, lengths, size = _fixed_header(data)
    if header.width * header.height > max_pixels:
        raise ImageTooLarge(f"image size {header.width}x{header.height} exceeds the decoder's limit "
                            f"({max_pixels} pixels)")
    if size + sum(lengths) != len(data):
        raise BitstreamError(f"stream lengths in the header ({' + '.join(map(str, lengths))}) do not match the "
                             f"file size ({len(data) - size} payload bytes): truncated or corrupt")
    return header, lengths


def peek_header(prefix: bytes) -> Header:
    """The fixed header of a file from its first HEADER_SIZE bytes (or all of a shorter file), checked
    field by field but not against the file's length or CRC: to index stored frames cheaply, whose
    full check (:func:`unpack`) comes when they are read."""
    return _fixed_header(prefix)[0]


def _fixed_header(data: bytes) -> tuple[Header, tuple[int, ...], int]:
    """(header, stream lengths, header size) of the magic, version and fixed fields at the start of ``data``."""
    if len(data) < 5 or bytes(data[:4]) != MAGIC:
        raise BitstreamError("not an .ecb file (bad magic bytes)" if len(data) >= MIN_SIZE else
                             f"not an .ecb file: {len(data)} bytes is shorter than the header")
    version = data[4]
    if version not in (1, VERSION):
        raise BitstreamError(f"unsupported .ecb format version {version} (this decoder reads versions 1 and 2)")
    size = HEADER_SIZE if version == VERSION else HEADER_SIZE_V1
    if len(data) < size:
        raise BitstreamError(f"not an .ecb file: {len(data)} bytes is shorter than the {size}-byte header")
    header, lengths = _parse_v2(data) if version == VERSION else _parse_v1(data)
    return header, lengths, size


def _parse_v1(data: bytes) -> tuple[Header, tuple[int, ...]]:
    _, _, flags, q, model_id, width, height, zlen, ylen = HEADER_V1.unpack_from(data)
    if flags != 0:
        raise BitstreamError(f"unsupported header flags 0x{flags:02x}")
    _check_common(q, width, height)
    return Header(width, height, q / 100, bytes(model_id), version=1), (zlen, ylen)


def _parse_v2(data: bytes) -> tuple[Header, tuple[int, ...]]:
    _, _, kind, q, model_id, width, height, seq, ref_seq, ref_hash, flen, zlen, ylen = HEADER.unpack_from(data)
    if kind not in KIND_NAMES:
        raise BitstreamError(f"corrupt header: unknown frame kind {kind}")
    _check_common(q, width, height)
    if seq > MAX_SEQ or ref_seq > MAX_SEQ:
        raise BitstreamError("corrupt header: sequence number over 2**63-1")
    if kind == KEY and (ref_seq or ref_hash != NO_HASH or flen):
        raise BitstreamError("corrupt header: a key frame with a reference or skip flags")
    if kind == DELTA and ref_seq >= seq:
        raise BitstreamError(f"corrupt header: delta frame {seq} references frame {ref_seq}, not an earlier one")
    header = Header(width, height, q / 100, bytes(model_id), kind, seq, ref_seq, bytes(ref_hash))
    return header, ((flen, zlen, ylen) if kind == DELTA else (zlen, ylen))


def _check_common(q: int, width: int, height: int) -> None:
    if q > 10000:
        raise BitstreamError(f"corrupt header: quality {q / 100} outside 0..100")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise BitstreamError(f"corrupt header: image size {width}x{height} outside 1..{MAX_SIDE}")


def unpack(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Frame:
    """Parse and verify a whole frame (header fields and CRC)."""
    header, lengths = read_header(data, max_pixels)
    head = HEADER if header.version == VERSION else HEADER_V1
    (crc,) = CRC.unpack_from(data, head.size)
    payload = memoryview(data)[head.size + CRC.size:]
    if zlib.crc32(payload, zlib.crc32(memoryview(data)[:head.size])) != crc:
        raise BitstreamError("CRC mismatch: the file is corrupt")
    streams, at = [], 0
    for n in lengths:
        streams.append(bytes(payload[at:at + n]))
        at += n
    return Frame(header, tuple(streams))


# ---------------------------------------------------------------- .ecs stream files
#
#     off  size  field
#       0     4  magic b"ECS\x1a"
#       4     1  stream-file version (1)
#       5     3  reserved (0)
#       8     -  records: u32 length, then that many bytes of one .ecb frame; in coding order
#       -  12*N  index: per frame u64 offset of its record, u32 record length
#       -    12  trailer: u32 N, u32 CRC-32 of the index, b"ECSI"

STREAM_MAGIC = b"ECS\x1a"
STREAM_VERSION = 1
STREAM_HEADER = struct.Struct("<4sB3x")
RECORD = struct.Struct("<I")
INDEX_ENTRY = struct.Struct("<QI")
TRAILER = struct.Struct("<II4s")
INDEX_MAGIC = b"ECSI"


def pack_stream(frames: list[bytes]) -> bytes:
    """A whole .ecs file from frames in coding order."""
    out, index, at = [STREAM_HEADER.pack(STREAM_MAGIC, STREAM_VERSION)], [], STREAM_HEADER.size
    for frame in frames:
        out.append(RECORD.pack(len(frame)) + frame)
        index.append(INDEX_ENTRY.pack(at, len(frame)))
        at += RECORD.size + len(frame)
    table = b"".join(index)
    return b"".join(out) + table + TRAILER.pack(len(frames), zlib.crc32(table), INDEX_MAGIC)


def unpack_stream(data: bytes) -> list[bytes]:
    """The frames of an .ecs file, in coding order (each still to be parsed with :func:`unpack`)."""
    if len(data) < STREAM_HEADER.size + TRAILER.size or bytes(data[:4]) != STREAM_MAGIC:
        raise BitstreamError("not an .ecs stream file (bad magic bytes or too short)")
    if data[4] != STREAM_VERSION:
        raise BitstreamError(f"unsupported .ecs version {data[4]} (this decoder reads version {STREAM_VERSION})")
    if any(data[5:8]):
        raise BitstreamError("corrupt .ecs header: reserved bytes 5..7 are not zero")
    count, crc, magic = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    index_at = len(data) - TRAILER.size - count * INDEX_ENTRY.size
    if magic != INDEX_MAGIC or index_at < STREAM_HEADER.size:
        raise BitstreamError("the .ecs file has no valid index: truncated or corrupt")
    table = memoryview(data)[index_at:len(data) - TRAILER.size]
    if zlib.crc32(table) != crc:
        raise BitstreamError("CRC mismatch in the .ecs index: the file is corrupt")
    frames, expected = [], STREAM_HEADER.size
    for offset, length in INDEX_ENTRY.iter_unpack(table):
        end = offset + RECORD.size + length
        if offset != expected or end > index_at or RECORD.unpack_from(data, offset)[0] != length:
            raise BitstreamError(f"corrupt .ecs index: frame {len(frames)} does not follow the previous one")
        frames.append(bytes(data[offset + RECORD.size:end]))
        expected = end
    if expected != index_at:
        raise BitstreamError("corrupt .ecs file: bytes between the last frame and the index")
    return frames
