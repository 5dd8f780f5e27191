"""Outputs that are not regular files (FIFOs, links to them) are written in place, never replaced; ``-`` is
stdin or stdout for encode, decode and info. Only FIFOs and links in temporary folders: never a real device."""
from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecodec.codec import bitstream
from edgecodec.cli.main import main

from test_bad_input import assert_clean_error

pytestmark = pytest.mark.usefixtures("one_thread")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "kodim15.png"
GOLDEN_STREAM = Path(__file__).resolve().parents[1] / "golden" / "stream.ecs"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small_png(tmp_path_factory) -> Path:
    """A 48x64 crop: its PNG and its .ecb stay well inside a pipe's buffer."""
    path = tmp_path_factory.mktemp("in") / "small.png"
    cv2.imwrite(str(path), cv2.imread(str(SAMPLE))[100:148, 100:164])
    return path


@pytest.fixture(scope="module")
def small_ecb(small_png, tiny_ckpt) -> Path:
    path = small_png.with_suffix(".ecb")
    assert main(["encode", str(small_png), "-o", str(path), "--model", tiny_ckpt]) == 0
    return path


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_decode_into_a_fifo_and_a_link_to_it_keeps_the_fifo(tmp_path, small_ecb, tiny_ckpt, cli):
    fifo, link = tmp_path / "out.png", tmp_path / "link.png"
    os.mkfifo(fifo)
    link.symlink_to(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there: the decoder's open does not wait
    try:
        for output in (fifo, link):
            res = cli("decode", small_ecb, "-o", output, "--model", tiny_ckpt)
            assert res.rc == 0, res.err
            assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a regular file"
            assert link.is_symlink()
            assert _read_all(reader).startswith(PNG_SIGNATURE)
    finally:
        os.close(reader)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "out.png"], "temporary files left behind"


def test_encode_through_a_link_replaces_its_target(tmp_path, small_png, tiny_ckpt, cli):
    target, link = tmp_path / "real.ecb", tmp_path / "link.ecb"
    target.write_bytes(b"old")
    link.symlink_to(target)
    res = cli("encode", small_png, "-o", link, "--model", tiny_ckpt)
    assert res.rc == 0, res.err
    assert link.is_symlink() and target.read_bytes()[:4] != b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.ecb", "real.ecb"]


def _stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_dash_is_stdin_and_stdout_for_encode_decode_and_info(monkeypatch, capfdbinary, small_png, small_ecb,
                                                            tiny_ckpt):
    _stdin(monkeypatch, small_png.read_bytes())
    capfdbinary.readouterr()
    assert main(["encode", "-", "-o", "-", "--model", tiny_ckpt]) == 0
    ecb = capfdbinary.readouterr().out
    assert ecb == small_ecb.read_bytes()
    _stdin(monkeypatch, ecb)
    assert main(["decode", "-", "-o", "-", "--model", tiny_ckpt]) == 0
    png = capfdbinary.readouterr().out
    assert png.startswith(PNG_SIGNATURE)
    assert cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)
    _stdin(monkeypatch, ecb)
    assert main(["info", "-"]) == 0
    assert json.loads(capfdbinary.readouterr().out)["bytes"] == len(ecb)


def test_a_stream_cannot_decode_to_stdout(monkeypatch, cli, tmp_path):
    data = GOLDEN_STREAM.read_bytes()
    assert data[:4] == bitstream.STREAM_MAGIC
    assert_clean_error(cli("decode", GOLDEN_STREAM, "-o", "-"), match="folder")
    _stdin(monkeypatch, data)
    assert_clean_error(cli("decode", "-", "-o", "-"), match="folder")
    assert_clean_error(cli("encode", "-", "-o", tmp_path / "x.ecs"), tmp_path, match="not - (stdin)")
