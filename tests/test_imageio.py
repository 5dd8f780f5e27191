"""Reading input images: EXIF orientation, pixel limits before decoding, silent native decoders, pipes."""
from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from edgecodec.imageio import ImageReadError, read_image, read_input, refuse_overwriting


def picture(height: int = 24, width: int = 40) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "oriented.png"
    Image.fromarray(picture()).save(path, exif=exif)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    got = read_image(path)
    assert got.shape == upright.shape and got.flags.c_contiguous
    np.testing.assert_array_equal(got, upright)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge RGB image; its data is a few bytes (a decompression bomb's shape)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b"")


@pytest.mark.parametrize("width,height", [(5000, 5000), (30000, 30000)])
def test_pixel_limit_is_checked_before_decoding(tmp_path, monkeypatch, width, height):
    import cv2

    def no_decode(*args, **kwargs):
        raise AssertionError("pixels were decoded for an image over the limit")

    monkeypatch.setattr(cv2, "imdecode", no_decode)
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(width, height))
    with pytest.raises(ImageReadError, match="over the limit of 16777216 pixels.*--max-pixels"):
        read_image(path)


def test_pixel_limit_is_a_parameter(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(picture()).save(path)
    with pytest.raises(ImageReadError, match="40x24 is over the limit of 959 pixels"):
        read_image(path, max_pixels=959)
    assert read_image(path, max_pixels=960).shape == (24, 40, 3)


def test_damaged_multi_chunk_png_fails_without_library_output(tmp_path, capfd):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    assert data.count(b"IDAT") > 2  # libpng complains on stderr about this kind of file
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[:len(data) // 2])
    capfd.readouterr()
    with pytest.raises(ImageReadError, match="not a readable image"):
        read_image(cut)
    assert capfd.readouterr().err == ""


def test_jpeg_with_junk_between_segments_reads_silently(tmp_path, capfd):
    buf = io.BytesIO()
    Image.fromarray(picture()).save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    path = tmp_path / "junk.jpg"
    path.write_bytes(data[:-2] + bytes(10) + data[-2:])  # libjpeg: "Corrupt JPEG data: extraneous bytes"
    capfd.readouterr()
    assert read_image(path).shape == (24, 40, 3)
    assert capfd.readouterr().err == ""


def test_input_from_a_pipe_and_its_size_limit(tmp_path):
    script = "import sys; from edgecodec.imageio import read_input; print(len(read_input('/dev/stdin')))"
    res = subprocess.run([sys.executable, "-c", script], input=b"x" * 5000, capture_output=True, check=True)
    assert res.stdout.strip() == b"5000"
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 101)
    with pytest.raises(ImageReadError, match="larger than 100 bytes"):
        read_input(path, limit=100)
    with pytest.raises(ImageReadError, match="is a directory"):
        read_input(tmp_path)


def test_an_output_naming_the_input_is_refused(tmp_path):
    src = tmp_path / "a.png"
    src.write_bytes(b"data")
    (tmp_path / "link.png").symlink_to(src)
    for output in (src, tmp_path / "." / "a.png", tmp_path / "link.png"):
        with pytest.raises(ValueError, match="overwrite the input"):
            refuse_overwriting(src, output)
    refuse_overwriting(src, tmp_path / "b.png")  # a new file is fine
    assert src.read_bytes() == b"data"
