"""Reading input images: EXIF orientation, pixel limits before decoding, silent native decoders, pipes;
writing outputs: atomic for regular files, in place for FIFOs and devices, ``-`` for stdio."""
from __future__ import annotations

import io
import os
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from edgecodec.imageio import ImageReadError, read_image, read_input, refuse_overwriting, write_atomic


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


def _fifo_reader(path: Path) -> int:
    """The read end of a new FIFO, opened without blocking, so a writer's open and small writes go through."""
    os.mkfifo(path)
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


def test_a_fifo_and_a_link_to_one_are_written_in_place(tmp_path):
    fifo, link = tmp_path / "out.fifo", tmp_path / "link.png"
    link.symlink_to(fifo)
    reader = _fifo_reader(fifo)
    try:
        for output in (fifo, link):
            write_atomic(output, b"first bytes")
            assert os.read(reader, 100) == b"first bytes"
            assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a regular file"
            assert link.is_symlink() and os.readlink(link) == str(fifo)
    finally:
        os.close(reader)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "out.fifo"]


def test_a_link_to_a_regular_file_is_written_through(tmp_path):
    target, link, dangling = tmp_path / "real.png", tmp_path / "link.png", tmp_path / "dangling.png"
    target.write_bytes(b"old")
    link.symlink_to(target)
    dangling.symlink_to(tmp_path / "new.png")
    write_atomic(link, b"new")
    write_atomic(dangling, b"created")
    assert link.is_symlink() and target.read_bytes() == b"new" and not target.is_symlink()
    assert dangling.is_symlink() and (tmp_path / "new.png").read_bytes() == b"created"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.png", "link.png", "new.png", "real.png"]


def test_dash_is_stdout_and_stdin(monkeypatch, capsysbinary):
    write_atomic("-", b"to stdout")
    assert capsysbinary.readouterr().out == b"to stdout"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin")))
    assert read_input("-") == b"from stdin"
    refuse_overwriting("-", "-")


def test_a_folder_is_not_an_output(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        write_atomic(tmp_path, b"x")
