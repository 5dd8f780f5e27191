"""encode -> info -> decode through the command line, for awkward sizes and input formats."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecodec.checkpoint import from_checkpoint
from edgecodec import codec
from edgecodec.codec import bitstream

pytestmark = pytest.mark.usefixtures("one_thread")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_id(tiny_ckpt) -> str:
    return codec.model_id(from_checkpoint(tiny_ckpt)).hex()


def make_input(folder: Path, kind: str, height: int, width: int) -> Path:
    """Write a test input with OpenCV (BGR / BGRA channel order)."""
    rng = np.random.default_rng(height * 1000 + width)
    yy, xx = np.mgrid[0:height, 0:width]
    base = (yy * 255 // max(height - 1, 1) + xx * 128 // max(width - 1, 1)) % 256
    bgr = np.stack([base, 255 - base, (base * 3) % 256], -1).astype(np.uint8)
    bgr = np.clip(bgr.astype(int) + rng.integers(-8, 9, bgr.shape), 0, 255).astype(np.uint8)
    if kind == "gray":
        img, ext = bgr[:, :, 0], ".png"
    elif kind == "rgba":
        alpha = rng.integers(0, 256, (height, width, 1), dtype=np.uint8)
        img, ext = np.concatenate([bgr, alpha], -1), ".png"
    elif kind == "opaque":
        img, ext = np.concatenate([bgr, np.full((height, width, 1), 255, np.uint8)], -1), ".png"
    elif kind == "animated":  # three frames; OpenCV cannot write GIF
        from PIL import Image

        path = folder / "in-animated.gif"
        frames = [Image.fromarray(np.roll(bgr[:, :, ::-1], 5 * i, axis=1)) for i in range(3)]
        frames[0].save(path, save_all=True, append_images=frames[1:])
        return path
    elif kind == "rgb16":
        img, ext = bgr.astype(np.uint16) * 257 + rng.integers(0, 257, bgr.shape).astype(np.uint16), ".png"
    elif kind == "gray16":
        img, ext = bgr[:, :, 1].astype(np.uint16) * 257, ".png"
    elif kind == "jpeg":
        img, ext = bgr, ".jpg"
    else:
        img, ext = bgr, ".png"
    path = folder / f"in-{kind}{ext}"
    assert cv2.imwrite(str(path), img)
    return path


def roundtrip(cli, tmp_path: Path, src: Path, ckpt: str, quality: float = 50.0):
    """Run encode, info and decode; returns (encode result, info dict, decoded BGR array)."""
    ecb, out = tmp_path / "x.ecb", tmp_path / "x.png"
    enc = cli("encode", src, "-o", ecb, "--quality", quality, "--model", ckpt)
    assert enc.rc == 0, enc.err
    assert enc.out == ""
    info = cli("info", ecb)
    assert info.rc == 0 and info.err == "", info.err
    dec = cli("decode", ecb, "-o", out, "--model", ckpt)
    assert dec.rc == 0 and dec.err == "" and dec.out == "", dec.err
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    decoded = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name not in (src.name, "x.ecb", "x.png"))
    assert leftovers == [], "temporary files left behind"
    return enc, json.loads(info.out), decoded


def check_output(info: dict, decoded: np.ndarray, height: int, width: int, quality: float, model_id: str,
                 ecb: Path) -> None:
    assert decoded.dtype == np.uint8
    assert decoded.shape == (height, width, 3), "decoded PNG must be 8-bit RGB of the input size"
    assert info["width"] == width and info["height"] == height
    assert info["quality"] == quality
    assert info["model_id"] == model_id
    assert info["version"] == bitstream.VERSION
    size = ecb.stat().st_size
    assert info["bytes"] == size == bitstream.HEADER_SIZE + info["z_bytes"] + info["y_bytes"]
    assert info["kind"] == "key" and info["seq"] == 0 and info["version"] == 2
    assert info["bpp"] == pytest.approx(8 * size / (width * height), abs=1e-5)


@pytest.mark.parametrize("height,width", [(1, 1), (1, 200), (200, 1), (65, 129), (129, 65), (64, 64)])
def test_sizes(cli, tmp_path, tiny_ckpt, tiny_id, height, width):
    src = make_input(tmp_path, "rgb", height, width)
    enc, info, decoded = roundtrip(cli, tmp_path, src, tiny_ckpt, quality=50)
    assert enc.err == ""
    check_output(info, decoded, height, width, 50.0, tiny_id, tmp_path / "x.ecb")


@pytest.mark.parametrize("quality,stored", [(0, 0.0), (100, 100.0), (37.5, 37.5), (33.333, 33.33)])
def test_quality_in_header(cli, tmp_path, tiny_ckpt, tiny_id, quality, stored):
    src = make_input(tmp_path, "rgb", 17, 23)
    _, info, decoded = roundtrip(cli, tmp_path, src, tiny_ckpt, quality=quality)
    check_output(info, decoded, 17, 23, stored, tiny_id, tmp_path / "x.ecb")


@pytest.mark.parametrize("kind,warning", [("gray", None), ("jpeg", None), ("rgba", "transparency dropped"),
                                          ("opaque", None), ("animated", "only the first frame"),
                                          ("rgb16", "16-bit"), ("gray16", "16-bit")])
def test_input_formats(cli, tmp_path, tiny_ckpt, tiny_id, kind, warning):
    src = make_input(tmp_path, kind, 45, 77)
    enc, info, decoded = roundtrip(cli, tmp_path, src, tiny_ckpt, quality=80)
    warnings = [line for line in enc.err.splitlines() if line.startswith("edgecodec: warning:")]
    assert len(warnings) == len(enc.err.splitlines()), f"only warning lines expected:\n{enc.err}"
    if warning is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warning in warnings[0], enc.err
    check_output(info, decoded, 45, 77, 80.0, tiny_id, tmp_path / "x.ecb")


def test_gray_input_is_coded_as_rgb_gray(tmp_path, tiny_ckpt):
    """A gray PNG is read as R = G = B (the codec then sees an ordinary RGB image)."""
    from edgecodec.imageio import read_image

    src = make_input(tmp_path, "gray", 9, 11)
    rgb = read_image(src)
    assert rgb.shape == (9, 11, 3)
    assert np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 1], rgb[:, :, 2])


def test_cli_matches_the_library(cli, tmp_path, tiny_ckpt):
    """The CLI writes exactly what codec.encode/decode produce for the same RGB pixels."""
    from edgecodec.imageio import read_image

    src = make_input(tmp_path, "rgb", 33, 47)
    model = from_checkpoint(tiny_ckpt)
    _, _, decoded = roundtrip(cli, tmp_path, src, tiny_ckpt, quality=60)
    data = codec.Codec(model).encode(read_image(src), 60)
    assert (tmp_path / "x.ecb").read_bytes() == data
    assert np.array_equal(decoded[:, :, ::-1], codec.Codec(model).decode(data))


def test_real_entry_point_roundtrip_with_warning(tmp_path, tiny_ckpt, tiny_id):
    """The installed console script: RGBA input warns on one line, exits 0, info prints JSON."""
    exe = Path(sys.executable).with_name("edgecodec")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "edgecodec"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    src = make_input(tmp_path, "rgba", 20, 30)
    ecb, out = tmp_path / "x.ecb", tmp_path / "x.png"

    def run(*argv):
        return subprocess.run(cmd + [str(a) for a in argv], capture_output=True, text=True, timeout=300, env=env)

    enc = run("encode", src, "-o", ecb, "-q", "70", "--model", tiny_ckpt)
    assert enc.returncode == 0, enc.stderr
    lines = enc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgecodec: warning:") and "alpha" in lines[0], enc.stderr
    info = run("info", ecb)
    assert info.returncode == 0 and info.stderr == ""
    dec = run("decode", ecb, "-o", out, "--model", tiny_ckpt)
    assert dec.returncode == 0 and dec.stderr == "", dec.stderr
    check_output(json.loads(info.stdout), cv2.imread(str(out), cv2.IMREAD_UNCHANGED), 20, 30, 70.0, tiny_id, ecb)
