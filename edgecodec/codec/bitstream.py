"""The .ecb wire format (version 1): the one module that reads and writes it.

All fields little-endian, fixed width (see docs/bitstream.md):

    off  size  field
      0     4  magic  b"ECB\\x1a"
      4     1  format version (1)
      5     1  flags (reserved, 0)
      6     2  quality in hundredths (0..10000)
      8    16  model id (content hash of the model's weights and tables)
     24     4  image width  (1..MAX_SIDE)
     28     4  image height (1..MAX_SIDE)
     32     4  length of the hyper-latent (z) rANS stream
     36     4  length of the latent (y) rANS stream
     40     4  CRC-32 of bytes 0..39 and of the payload
     44     -  z stream, then y stream (nothing after)
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"ECB\x1a"
VERSION = 1
HEADER = struct.Struct("<4sBBH16sIIII")
CRC = struct.Struct("<I")
HEADER_SIZE = HEADER.size + CRC.size
MAX_SIDE = 1 << 16
DEFAULT_MAX_PIXELS = 1 << 24  # 16.7 MP; decoding memory grows linearly with it


class BitstreamError(ValueError):
    """The bytes are not a valid .ecb file (or exceed the decoder's limits)."""


class ImageTooLarge(BitstreamError):
    """A valid header whose image is larger than the caller's pixel limit."""


@dataclass(frozen=True)
class Header:
    """Decoded header fields."""

    width: int
    height: int
    quality: float
    model_id: bytes
    version: int = VERSION

    def to_json(self) -> dict:
        return {"version": self.version, "width": self.width, "height": self.height,
                "quality": self.quality, "model_id": self.model_id.hex()}


def pack(header: Header, z: bytes, y: bytes) -> bytes:
    """Serialise a header and the two streams."""
    if not (1 <= header.width <= MAX_SIDE and 1 <= header.height <= MAX_SIDE):
        raise BitstreamError(f"image size {header.width}x{header.height} outside 1..{MAX_SIDE}")
    if len(header.model_id) != 16:
        raise BitstreamError("model id must be 16 bytes")
    if not 0.0 <= header.quality <= 100.0:  # also rejects NaN
        raise BitstreamError(f"quality {header.quality} outside 0..100")
    q = int(round(header.quality * 100))
    if not 0 <= q <= 10000:
        raise BitstreamError(f"quality {header.quality} outside 0..100")
    head = HEADER.pack(MAGIC, VERSION, 0, q, header.model_id, header.width, header.height, len(z), len(y))
    crc = zlib.crc32(y, zlib.crc32(z, zlib.crc32(head)))
    return head + CRC.pack(crc) + z + y


def read_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, int, int]:
    """Validate the fixed header (not the CRC); returns (header, z length, y length)."""
    if len(data) < HEADER_SIZE:
        raise BitstreamError(f"not an .ecb file: {len(data)} bytes is shorter than the {HEADER_SIZE}-byte header")
    magic, version, flags, q, model_id, width, height, zlen, ylen = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise BitstreamError("not an .ecb file (bad magic bytes)")
    if version != VERSION:
        raise BitstreamError(f"unsupported .ecb format version {version} (this decoder reads version {VERSION})")
    if flags != 0:
        raise BitstreamError(f"unsupported header flags 0x{flags:02x}")
    if q > 10000:
        raise BitstreamError(f"corrupt header: quality {q / 100} outside 0..100")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise BitstreamError(f"corrupt header: image size {width}x{height} outside 1..{MAX_SIDE}")
    if width * height > max_pixels:
        raise ImageTooLarge(f"image size {width}x{height} exceeds the decoder's limit ({max_pixels} pixels)")
    if HEADER_SIZE + zlen + ylen != len(data):
        raise BitstreamError(f"stream lengths in the header ({zlen} + {ylen}) do not match the file size "
                             f"({len(data) - HEADER_SIZE} payload bytes): truncated or corrupt")
    return Header(width, height, q / 100, bytes(model_id), version), zlen, ylen


def unpack(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, bytes, bytes]:
    """Parse and verify a whole file; returns (header, z stream, y stream)."""
    header, zlen, ylen = read_header(data, max_pixels)
    (crc,) = CRC.unpack_from(data, HEADER.size)
    payload = memoryview(data)[HEADER_SIZE:]
    if zlib.crc32(payload, zlib.crc32(memoryview(data)[:HEADER.size])) != crc:
        raise BitstreamError("CRC mismatch: the file is corrupt")
    return header, bytes(payload[:zlen]), bytes(payload[zlen:zlen + ylen])
