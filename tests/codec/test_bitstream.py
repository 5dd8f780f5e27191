""".ecb container: round trips, the exact layout, and rejection of every malformed file."""
from __future__ import annotations

import math
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecodec.codec import bitstream
from edgecodec.codec.bitstream import (DEFAULT_MAX_PIXELS, HEADER_SIZE, MAGIC, MAX_SIDE, VERSION, BitstreamError,
                                       Header, pack, read_header, unpack)

MID = bytes(range(16))
ALL_SIZES = MAX_SIDE * MAX_SIDE  # a max_pixels that lets every legal size through


def raw_file(z: bytes = b"zz", y: bytes = b"yyy", *, magic: bytes = MAGIC, version: int = VERSION, flags: int = 0,
             q: int = 5000, mid: bytes = MID, width: int = 93, height: int = 61, zlen: int | None = None,
             ylen: int | None = None, crc: int | None = None) -> bytes:
    """A file with arbitrary header fields and (unless given) a CRC that matches them,
    so that each test isolates one field check from the CRC check."""
    head = bitstream.HEADER.pack(magic, version, flags, q, mid, width, height,
                                 len(z) if zlen is None else zlen, len(y) if ylen is None else ylen)
    if crc is None:
        crc = zlib.crc32(y, zlib.crc32(z, zlib.crc32(head)))
    return head + struct.pack("<I", crc) + z + y


# ---------------------------------------------------------------- round trips and layout

def test_constants():
    assert MAGIC == b"ECB\x1a"
    assert VERSION == 1
    assert HEADER_SIZE == 44
    assert MAX_SIDE == 65536
    assert DEFAULT_MAX_PIXELS == 1 << 24


def test_round_trip():
    header = Header(width=93, height=61, quality=37.5, model_id=MID)
    data = pack(header, b"\x01\x02\x03", b"\xff" * 10)
    assert len(data) == HEADER_SIZE + 13
    assert read_header(data) == (header, 3, 10)
    assert unpack(data) == (header, b"\x01\x02\x03", b"\xff" * 10)


def test_exact_layout():
    """The documented little-endian layout, byte for byte (old files must keep parsing)."""
    data = pack(Header(width=0x0102, height=0x0304, quality=12.34, model_id=MID), b"Z" * 5, b"Y" * 7)
    assert data[0:4] == b"ECB\x1a"
    assert data[4] == 1 and data[5] == 0
    assert data[6:8] == (1234).to_bytes(2, "little")
    assert data[8:24] == MID
    assert data[24:28] == (0x0102).to_bytes(4, "little")
    assert data[28:32] == (0x0304).to_bytes(4, "little")
    assert data[32:36] == (5).to_bytes(4, "little")
    assert data[36:40] == (7).to_bytes(4, "little")
    assert data[40:44] == zlib.crc32(data[44:], zlib.crc32(data[:40])).to_bytes(4, "little")
    assert data[44:] == b"Z" * 5 + b"Y" * 7


def test_empty_streams_round_trip():
    header = Header(width=1, height=1, quality=0.0, model_id=b"\0" * 16)
    assert unpack(pack(header, b"", b"")) == (header, b"", b"")


def test_quality_is_stored_in_hundredths():
    data = pack(Header(width=1, height=1, quality=33.333, model_id=MID), b"", b"")
    assert unpack(data)[0].quality == 33.33
    assert unpack(pack(Header(1, 1, 100.0, MID), b"", b""))[0].quality == 100.0


def test_to_json():
    header = Header(width=5, height=7, quality=80.0, model_id=MID)
    assert header.to_json() == {"version": 1, "width": 5, "height": 7, "quality": 80.0, "model_id": MID.hex()}


def test_accepts_bytearray_and_memoryview():
    data = pack(Header(2, 3, 50.0, MID), b"z", b"y")
    assert unpack(bytearray(data)) == unpack(data)
    assert unpack(memoryview(data)) == unpack(data)


sides = st.integers(1, MAX_SIDE)
headers = st.builds(Header, width=sides, height=sides, quality=st.integers(0, 10000).map(lambda q: q / 100),
                    model_id=st.binary(min_size=16, max_size=16))
payloads = st.binary(max_size=64)


@settings(max_examples=300, deadline=None)
@given(headers, payloads, payloads)
def test_round_trip_property(header, z, y):
    data = pack(header, z, y)
    assert len(data) == HEADER_SIZE + len(z) + len(y)
    assert read_header(data, ALL_SIZES) == (header, len(z), len(y))
    assert unpack(data, ALL_SIZES) == (header, z, y)
    assert pack(*unpack(data, ALL_SIZES)) == data


@settings(max_examples=40, deadline=None)
@given(headers, st.binary(max_size=24), st.binary(max_size=24))
def test_every_single_bit_flip_is_rejected(header, z, y):
    data = pack(header, z, y)
    for bit in range(8 * len(data)):
        bad = bytearray(data)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(BitstreamError):
            unpack(bytes(bad), ALL_SIZES)


@settings(max_examples=40, deadline=None)
@given(headers, payloads, payloads, st.binary(min_size=1, max_size=8))
def test_every_truncation_and_any_appended_bytes_are_rejected(header, z, y, extra):
    data = pack(header, z, y)
    for n in range(len(data)):
        with pytest.raises(BitstreamError):
            unpack(data[:n], ALL_SIZES)
        with pytest.raises(BitstreamError):
            read_header(data[:n], ALL_SIZES)
    with pytest.raises(BitstreamError):
        unpack(data + extra, ALL_SIZES)
    with pytest.raises(BitstreamError):
        read_header(data + extra, ALL_SIZES)


def _only_bitstream_errors(data: bytes, max_pixels: int) -> None:
    for fn in (read_header, unpack):
        try:
            fn(data, max_pixels)
        except BitstreamError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([1, 1000, DEFAULT_MAX_PIXELS, ALL_SIZES]))
def test_random_bytes_raise_only_bitstream_error(data, max_pixels):
    _only_bitstream_errors(data, max_pixels)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=HEADER_SIZE - 6, max_size=120), st.sampled_from([1, DEFAULT_MAX_PIXELS, ALL_SIZES]))
def test_random_bytes_after_a_valid_prefix_raise_only_bitstream_error(rest, max_pixels):
    # magic + version + flags right, so the random bytes reach the deeper field checks
    _only_bitstream_errors(MAGIC + bytes([VERSION, 0]) + rest, max_pixels)


# ---------------------------------------------------------------- specific rejections

def test_raw_file_helper_makes_valid_files():
    header, z, y = unpack(raw_file())
    assert (header.width, header.height, header.quality, header.model_id, z, y) == (93, 61, 50.0, MID, b"zz", b"yyy")


@pytest.mark.parametrize("data", [b"", b"E", MAGIC, raw_file()[:HEADER_SIZE - 1]], ids=["empty", "1 byte", "magic",
                                                                                           "43 bytes"])
def test_shorter_than_header(data):
    with pytest.raises(BitstreamError, match="shorter"):
        read_header(data)
    with pytest.raises(BitstreamError):
        unpack(data)


@pytest.mark.parametrize("magic", [b"ECB\x00", b"\x1aBCE", b"\x89PNG", b"\0\0\0\0", b"ecb\x1a"])
def test_wrong_magic(magic):
    with pytest.raises(BitstreamError, match="magic"):
        unpack(raw_file(magic=magic))


def test_a_png_is_not_an_ecb_file():
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    with pytest.raises(BitstreamError):
        unpack(png)


@pytest.mark.parametrize("version", [0, 2, 255])
def test_wrong_version(version):
    with pytest.raises(BitstreamError, match="version"):
        unpack(raw_file(version=version))


@pytest.mark.parametrize("flags", [1, 0x80, 0xFF])
def test_nonzero_flags(flags):
    with pytest.raises(BitstreamError, match="flags"):
        unpack(raw_file(flags=flags))


@pytest.mark.parametrize("q", [10001, 0x7FFF, 0xFFFF])
def test_quality_above_100(q):
    with pytest.raises(BitstreamError, match="quality"):
        unpack(raw_file(q=q))


def test_quality_limits_accepted():
    assert unpack(raw_file(q=0))[0].quality == 0.0
    assert unpack(raw_file(q=10000))[0].quality == 100.0


@pytest.mark.parametrize("width,height", [(0, 10), (10, 0), (0, 0), (MAX_SIDE + 1, 1), (1, MAX_SIDE + 1),
                                          (2**32 - 1, 1), (1, 2**32 - 1), (2**32 - 1, 2**32 - 1)])
def test_dimensions_outside_limits(width, height):
    data = raw_file(width=width, height=height)
    with pytest.raises(BitstreamError):
        read_header(data, ALL_SIZES)
    with pytest.raises(BitstreamError):
        unpack(data, ALL_SIZES)


def test_dimension_limits_accepted():
    assert read_header(raw_file(width=MAX_SIDE, height=1))[0].width == MAX_SIDE
    assert read_header(raw_file(width=1, height=MAX_SIDE))[0].height == MAX_SIDE
    assert read_header(raw_file(width=MAX_SIDE, height=MAX_SIDE), ALL_SIZES)[0].width == MAX_SIDE


def test_pixel_limit():
    data = raw_file(width=100, height=50)
    assert read_header(data, 5000)[0].width == 100          # exactly at the limit
    with pytest.raises(BitstreamError, match="limit"):
        read_header(data, 4999)
    with pytest.raises(BitstreamError, match="limit"):
        unpack(data, 4999)
    side = 4097  # 4097^2 > 2^24: over the default limit
    with pytest.raises(BitstreamError, match="limit"):
        unpack(raw_file(width=side, height=side))
    read_header(raw_file(width=4096, height=4096))          # 2^24 exactly: allowed by default


def test_decompression_bomb_rejected_by_read_header():
    """65535x65535 (4.3 gigapixels) with a 5-byte payload and a valid CRC: only the
    size check can reject it, and read_header alone (no decoding) must."""
    bomb = raw_file(b"\x00\x01", b"\x02\x03\x04", width=65535, height=65535)
    with pytest.raises(BitstreamError, match="limit"):
        read_header(bomb)
    with pytest.raises(BitstreamError, match="limit"):
        unpack(bomb)
    # the same header is well-formed apart from its size: a large enough limit lets it through
    assert read_header(bomb, ALL_SIZES)[0].width == 65535


@pytest.mark.parametrize("zlen,ylen", [(3, 3), (2, 4), (0, 0), (100, 3), (2, 2**32 - 1), (2**32 - 1, 2**32 - 1)])
def test_lengths_not_matching_the_file_size(zlen, ylen):
    data = raw_file(b"zz", b"yyy", zlen=zlen, ylen=ylen)
    with pytest.raises(BitstreamError, match="lengths"):
        read_header(data)
    with pytest.raises(BitstreamError):
        unpack(data)


def test_crc_mismatch():
    data = raw_file()
    with pytest.raises(BitstreamError, match="CRC"):
        unpack(raw_file(crc=zlib.crc32(b"something else")))
    read_header(raw_file(crc=0))  # the CRC is unpack's job, not read_header's
    bad = bytearray(data)
    bad[-1] ^= 0x10
    with pytest.raises(BitstreamError, match="CRC"):
        unpack(bytes(bad))


def test_crc_covers_the_header():
    data = pack(Header(93, 61, 50.0, MID), b"zz", b"yyy")
    for offset in (8, 23):  # model id bytes: no field check can catch these
        bad = bytearray(data)
        bad[offset] ^= 1
        with pytest.raises(BitstreamError, match="CRC"):
            unpack(bytes(bad))


def test_stream_split_moved_inside_a_valid_file_is_not_a_container_error():
    """Moving bytes between z and y keeps the total and the CRC: the container cannot see
    it (the rANS decoder must); documents the limit of what the CRC protects."""
    data = raw_file(b"zz", b"yyy", zlen=3, ylen=2)
    header, z, y = unpack(data)
    assert (z, y) == (b"zzy", b"yy")


# ---------------------------------------------------------------- pack refuses invalid headers

@pytest.mark.parametrize("header", [
    Header(0, 1, 50.0, MID), Header(1, 0, 50.0, MID), Header(-1, 1, 50.0, MID),
    Header(MAX_SIDE + 1, 1, 50.0, MID), Header(1, MAX_SIDE + 1, 50.0, MID),
    Header(1, 1, -0.01, MID), Header(1, 1, -1.0, MID), Header(1, 1, 100.01, MID), Header(1, 1, 101.0, MID),
    Header(1, 1, 50.0, MID[:15]), Header(1, 1, 50.0, MID + b"\0"), Header(1, 1, 50.0, b""),
], ids=lambda h: f"{h.width}x{h.height}-q{h.quality}-id{len(h.model_id)}")
def test_pack_refuses_invalid_headers(header):
    with pytest.raises(BitstreamError):
        pack(header, b"z", b"y")


@pytest.mark.parametrize("quality", [math.nan, math.inf, -math.inf])
def test_pack_refuses_non_finite_quality(quality):
    with pytest.raises(BitstreamError):
        pack(Header(1, 1, quality, MID), b"z", b"y")


def test_pack_accepts_the_limits():
    for header in (Header(1, 1, 0.0, MID), Header(MAX_SIDE, MAX_SIDE, 100.0, MID)):
        assert unpack(pack(header, b"", b""), ALL_SIZES)[0] == header
