"""Every bad input is one `edgecodec: error:` line, a non-zero exit, no traceback and no output file."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from edgecodec.checkpoint import from_checkpoint
from edgecodec import codec
from edgecodec.codec import bitstream
from edgecodec.codec.bitstream import HEADER_SIZE

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "kodim15.png"


def with_valid_crc(data: bytes) -> bytes:
    head, payload = data[:HEADER_SIZE - 4], data[HEADER_SIZE:]
    return head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload


def assert_clean_error(res, out_dir: Path | None = None, match: str | None = None) -> str:
    """One error line (warnings allowed), non-zero exit, no traceback, nothing left in out_dir."""
    lines = res.err_lines
    errors = [line for line in lines if line.startswith("edgecodec: error:")]
    other = [line for line in lines if not line.startswith(("edgecodec: error:", "edgecodec: warning:"))]
    assert res.rc != 0, res.err
    assert len(errors) == 1 and not other, f"stderr must be one error line:\n{res.err}"
    assert "Traceback" not in res.err and "Traceback" not in res.out
    assert "internal error" not in errors[0], f"bad input reached an unexpected exception: {errors[0]}"
    if out_dir is not None:
        assert sorted(p.name for p in out_dir.iterdir()) == [], "output (or a temporary file) left behind"
    if match is not None:
        assert match.lower() in errors[0].lower(), errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    img = cv2.imread(str(SAMPLE), cv2.IMREAD_COLOR)[100:150, 200:270, ::-1]  # 70x50 RGB
    return np.ascontiguousarray(img)


@pytest.fixture(scope="module")
def model(tiny_ckpt):
    return from_checkpoint(tiny_ckpt)


@pytest.fixture(scope="module")
def valid_ecb(model, image) -> bytes:
    return codec.Codec(model).encode(image, 80)


@pytest.fixture
def out_dir(tmp_path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


@pytest.fixture
def png(tmp_path, image) -> Path:
    path = tmp_path / "in.png"
    cv2.imwrite(str(path), image[:, :, ::-1])
    return path


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_valid_file_decodes(cli, tmp_path, out_dir, valid_ecb, tiny_ckpt):
    """Control: the untouched file decodes, so the failures below are the corruption's."""
    res = cli("decode", write(tmp_path, "ok.ecb", valid_ecb), "-o", out_dir / "x.png", "--model", tiny_ckpt)
    assert res.rc == 0 and res.err == "", res.err
    assert cv2.imread(str(out_dir / "x.png")).shape == (50, 70, 3)


# ---------------------------------------------------------------- decode: corrupt files

def corrupt(data: bytes, kind: str) -> bytes:
    _, (zlen, ylen) = bitstream.read_header(data)
    if kind == "empty":
        return b""
    if kind == "truncated by 1":
        return data[:-1]
    if kind == "truncated to half":
        return data[:len(data) // 2]
    if kind == "header only":
        return data[:HEADER_SIZE]
    if kind == "shorter than header":
        return data[:HEADER_SIZE - 1]
    if kind == "appended byte":
        return data + b"\0"
    if kind == "y byte flipped":
        bad = bytearray(data)
        bad[HEADER_SIZE + zlen + ylen // 2] ^= 0x40
        return bytes(bad)
    if kind == "z byte flipped":
        bad = bytearray(data)
        bad[HEADER_SIZE] ^= 0x01
        return bytes(bad)
    if kind == "wrong magic":
        return with_valid_crc(b"ECB\x00" + data[4:])
    if kind == "wrong version":
        return with_valid_crc(data[:4] + bytes([3]) + data[5:])
    if kind == "unknown frame kind":
        return with_valid_crc(data[:5] + bytes([7]) + data[6:])
    if kind == "a key frame made a delta frame":
        return with_valid_crc(data[:5] + bytes([1]) + data[6:])
    if kind == "a png":
        return SAMPLE.read_bytes()
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["empty", "truncated by 1", "truncated to half", "header only", "shorter than header",
                                  "appended byte", "y byte flipped", "z byte flipped", "wrong magic", "wrong version",
                                  "unknown frame kind", "a key frame made a delta frame", "a png"])
def test_decode_corrupt_file(cli, tmp_path, out_dir, valid_ecb, tiny_ckpt, kind):
    bad = write(tmp_path, "bad.ecb", corrupt(valid_ecb, kind))
    assert_clean_error(cli("decode", bad, "-o", out_dir / "x.png", "--model", tiny_ckpt), out_dir)


def test_info_corrupt_file(cli, tmp_path, valid_ecb):
    for kind in ("empty", "truncated by 1", "y byte flipped", "wrong magic"):
        bad = write(tmp_path, "bad.ecb", corrupt(valid_ecb, kind))
        res = cli("info", bad)
        assert_clean_error(res)
        assert res.out == ""


def bomb_file(width: int = 65535, height: int = 65535) -> bytes:
    """A well-formed header claiming a huge image, a 5-byte payload and a valid CRC."""
    return bitstream.pack(bitstream.Header(width, height, 50.0, b"\0" * 16), (b"\1\2", b"\3\4\5"))


def test_decode_bomb_is_refused_before_loading_a_model(cli, tmp_path, out_dir, monkeypatch):
    import edgecodec.runtime

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded for a file that the header check must refuse")

    monkeypatch.setattr(edgecodec.runtime, "load_codec", no_model)
    bomb = write(tmp_path, "bomb.ecb", bomb_file())
    assert_clean_error(cli("decode", bomb, "-o", out_dir / "x.png"), out_dir, match="limit")
    # over the default 2^24-pixel limit but within MAX_SIDE
    bomb = write(tmp_path, "bomb2.ecb", bomb_file(4097, 4097))
    assert_clean_error(cli("decode", bomb, "-o", out_dir / "x.png"), out_dir, match="limit")


def test_info_prints_headers_beyond_the_decode_limit(cli, tmp_path):
    res = cli("info", write(tmp_path, "big.ecb", bomb_file(4097, 4097)))
    assert res.rc == 0, res.err
    assert json.loads(res.out)["width"] == 4097


def test_decode_over_max_pixels(cli, tmp_path, out_dir, valid_ecb, tiny_ckpt):
    path = write(tmp_path, "ok.ecb", valid_ecb)  # 70x50 = 3500 pixels
    assert_clean_error(cli("decode", path, "-o", out_dir / "x.png", "--model", tiny_ckpt, "--max-pixels", 3499),
                       out_dir, match="limit")
    assert cli("decode", path, "-o", out_dir / "x.png", "--model", tiny_ckpt, "--max-pixels", 3500).rc == 0


PAYLOAD_EDITS = ["first z byte", "last z byte", "first y byte", "middle y byte", "last y byte", "y zeroed",
                 "y reversed", "split moved", "width changed", "height changed"]


def payload_edit(data: bytes, kind: str) -> bytes:
    """Corruptions that keep a valid CRC, so they reach the rANS decoder."""
    header, (zlen, ylen) = bitstream.read_header(data)
    b = bytearray(data)
    z0, y0 = HEADER_SIZE, HEADER_SIZE + zlen
    if kind == "first z byte":
        b[z0] ^= 0x5A
    elif kind == "last z byte":
        b[y0 - 1] ^= 0x01
    elif kind == "first y byte":
        b[y0] ^= 0x80
    elif kind == "middle y byte":
        b[y0 + ylen // 2] ^= 0xFF
    elif kind == "last y byte":
        b[-1] ^= 0x01
    elif kind == "y zeroed":
        b[y0:] = bytes(ylen)
    elif kind == "y reversed":
        b[y0:] = b[y0:][::-1]
    elif kind == "split moved":
        struct.pack_into("<II", b, 60, zlen + 3, ylen - 3)
    elif kind == "width changed":
        struct.pack_into("<I", b, 24, header.width + 64)
    elif kind == "height changed":
        struct.pack_into("<I", b, 28, 1)
    else:
        raise AssertionError(kind)
    return with_valid_crc(bytes(b))


@pytest.mark.parametrize("kind", PAYLOAD_EDITS)
def test_decode_corruption_behind_a_valid_crc(cli, tmp_path, out_dir, valid_ecb, tiny_ckpt, kind):
    """Undetectable by the CRC: the decoder must fail cleanly, or decode some image of the
    size in the header; never crash or hang."""
    data = payload_edit(valid_ecb, kind)
    header, _ = bitstream.read_header(data)
    res = cli("decode", write(tmp_path, "bad.ecb", data), "-o", out_dir / "x.png", "--model", tiny_ckpt)
    if res.rc == 0:
        assert res.err == ""
        assert cv2.imread(str(out_dir / "x.png")).shape == (header.height, header.width, 3)
        assert [p.name for p in out_dir.iterdir()] == ["x.png"]
    else:
        assert_clean_error(res, out_dir)


def test_decode_many_corruptions_behind_a_valid_crc(model, valid_ecb):
    """Library-level sweep: random byte edits anywhere in the payload with a fixed-up CRC raise
    ValueError (the documented failure type) or give an image; nothing else."""
    header, _ = bitstream.read_header(valid_ecb)
    rng = np.random.default_rng(1)
    outcomes = {"error": 0, "image": 0}
    for _ in range(150):
        b = bytearray(valid_ecb)
        for pos in rng.integers(HEADER_SIZE, len(b), size=int(rng.integers(1, 4))):
            b[pos] ^= int(rng.integers(1, 256))
        try:
            out = codec.Codec(model).decode(with_valid_crc(bytes(b)))
        except ValueError:
            outcomes["error"] += 1
        else:
            assert out.shape == (header.height, header.width, 3) and out.dtype == np.uint8
            outcomes["image"] += 1
    assert outcomes["error"] > 0  # the rANS decoder does notice most corruptions


def test_decode_with_another_model(cli, tmp_path, out_dir, valid_ecb, other_ckpt):
    res = cli("decode", write(tmp_path, "ok.ecb", valid_ecb), "-o", out_dir / "x.png", "--model", other_ckpt)
    assert_clean_error(res, out_dir, match="model")


def test_decode_missing_input(cli, tmp_path, out_dir, tiny_ckpt):
    assert_clean_error(cli("decode", tmp_path / "nope.ecb", "-o", out_dir / "x.png", "--model", tiny_ckpt), out_dir)


def test_decode_directory_as_input(cli, tmp_path, out_dir, tiny_ckpt):
    d = tmp_path / "folder.ecb"
    d.mkdir()
    assert_clean_error(cli("decode", d, "-o", out_dir / "x.png", "--model", tiny_ckpt), out_dir)


def test_info_missing_and_directory_input(cli, tmp_path):
    assert_clean_error(cli("info", tmp_path / "nope.ecb"))
    assert_clean_error(cli("info", tmp_path))


def test_decode_output_in_missing_directory(cli, tmp_path, valid_ecb, tiny_ckpt):
    target = tmp_path / "no" / "such" / "dir" / "x.png"
    assert_clean_error(cli("decode", write(tmp_path, "ok.ecb", valid_ecb), "-o", target, "--model", tiny_ckpt))
    assert not (tmp_path / "no").exists()


def test_decode_output_is_a_directory(cli, tmp_path, out_dir, valid_ecb, tiny_ckpt):
    target = out_dir / "x.png"
    target.mkdir()
    assert_clean_error(cli("decode", write(tmp_path, "ok.ecb", valid_ecb), "-o", target, "--model", tiny_ckpt))
    assert [p.name for p in out_dir.iterdir()] == ["x.png"] and target.is_dir() and not any(target.iterdir())


# ---------------------------------------------------------------- encode: bad images

@pytest.mark.parametrize("content", [b"this is not an image\n", bytes(np.random.default_rng(0).integers(0, 256, 4096,
                                                                                                           np.uint8)),
                                     b"", b"\xff\xd8\xff\xe0" + bytes(64),
                                     b"\x89PNG\r\n\x1a\n" + bytes(64)],
                         ids=["text", "random bytes", "empty", "jpeg signature only", "png signature only"])
def test_encode_not_an_image(cli, tmp_path, out_dir, tiny_ckpt, content):
    src = write(tmp_path, "in.png", content)
    assert_clean_error(cli("encode", src, "-o", out_dir / "x.ecb", "--model", tiny_ckpt), out_dir)


def test_encode_truncated_png(cli, tmp_path, out_dir, tiny_ckpt, png):
    data = png.read_bytes()
    src = write(tmp_path, "half.png", data[:len(data) // 2])
    res = cli("encode", src, "-o", out_dir / "x.ecb", "--model", tiny_ckpt)
    if res.rc == 0:  # OpenCV may return the rows it could read; that is an image too
        assert bitstream.unpack((out_dir / "x.ecb").read_bytes())[0].width == 70
    else:
        assert_clean_error(res, out_dir)


def test_encode_missing_input(cli, tmp_path, out_dir, tiny_ckpt):
    assert_clean_error(cli("encode", tmp_path / "nope.png", "-o", out_dir / "x.ecb", "--model", tiny_ckpt), out_dir)


def test_encode_directory_as_input(cli, tmp_path, out_dir, tiny_ckpt):
    d = tmp_path / "folder.png"
    d.mkdir()
    assert_clean_error(cli("encode", d, "-o", out_dir / "x.ecb", "--model", tiny_ckpt), out_dir)


# ---------------------------------------------------------------- encode: bad models

def test_encode_missing_model(cli, tmp_path, out_dir, png):
    res = cli("encode", png, "-o", out_dir / "x.ecb", "--model", tmp_path / "no-such-model.pt")
    assert_clean_error(res, out_dir, match="no-such-model.pt")


@pytest.mark.parametrize("kind", ["text", "png", "torch dict", "torch tensor", "truncated checkpoint",
                                  "invalid config", "config mismatch"])
def test_encode_with_a_file_that_is_not_a_checkpoint(cli, tmp_path, out_dir, png, tiny_ckpt, kind):
    model = tmp_path / "model.pt"
    if kind == "text":
        model.write_text("hello\n")
    elif kind == "png":
        model.write_bytes(SAMPLE.read_bytes())
    elif kind == "torch dict":
        torch.save({"weights": torch.zeros(3)}, model)
    elif kind == "torch tensor":
        torch.save(torch.zeros(3), model)
    elif kind == "truncated checkpoint":
        data = Path(tiny_ckpt).read_bytes()
        model.write_bytes(data[:len(data) // 2])
    elif kind == "invalid config":  # slices no longer sum to the latent width
        payload = torch.load(tiny_ckpt, weights_only=True)
        payload["config"] = dict(payload["config"], latent=65)
        torch.save(payload, model)
    elif kind == "config mismatch":  # a real checkpoint whose config does not fit its weights
        payload = torch.load(tiny_ckpt, weights_only=True)
        payload["config"] = dict(payload["config"], width=48)
        torch.save(payload, model)
    assert_clean_error(cli("encode", png, "-o", out_dir / "x.ecb", "--model", model), out_dir)


def test_decode_with_a_file_that_is_not_a_checkpoint(cli, tmp_path, out_dir, valid_ecb):
    model = write(tmp_path, "model.pt", b"not a model")
    res = cli("decode", write(tmp_path, "ok.ecb", valid_ecb), "-o", out_dir / "x.png", "--model", model)
    assert_clean_error(res, out_dir)


# ---------------------------------------------------------------- encode: bad options

@pytest.mark.parametrize("quality", ["-1", "101", "nan", "inf", "-inf", "-0.01", "100.01"])
def test_encode_quality_out_of_range(cli, out_dir, png, tiny_ckpt, quality):
    # "--quality=-inf": argparse would read a separate "-inf" as an option name
    res = cli("encode", png, "-o", out_dir / "x.ecb", f"--quality={quality}", "--model", tiny_ckpt)
    assert_clean_error(res, out_dir, match="quality")


def test_encode_output_in_missing_directory(cli, tmp_path, png, tiny_ckpt):
    target = tmp_path / "no" / "such" / "dir" / "x.ecb"
    assert_clean_error(cli("encode", png, "-o", target, "--model", tiny_ckpt))
    assert not (tmp_path / "no").exists()


def test_encode_output_is_a_directory(cli, tmp_path, out_dir, png, tiny_ckpt):
    target = out_dir / "x.ecb"
    target.mkdir()
    assert_clean_error(cli("encode", png, "-o", target, "--model", tiny_ckpt))
    assert [p.name for p in out_dir.iterdir()] == ["x.ecb"] and not any(target.iterdir())


@pytest.mark.parametrize("argv", [["encode", "in.png", "-o", "x.ecb", "--quality", "abc"], ["decode", "in.ecb"],
                                  ["frobnicate"]], ids=["quality abc", "missing -o", "unknown command"])
def test_usage_errors_are_one_line(cli, argv):
    assert_clean_error(cli(*argv))


# ---------------------------------------------------------------- the real entry point

def run_edgecodec(*argv: str | Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("edgecodec")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "edgecodec"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("EDGECODEC_DEBUG", None)
    return subprocess.run(cmd + [str(a) for a in argv], capture_output=True, text=True, timeout=300, env=env)


class _Proc:
    def __init__(self, p: subprocess.CompletedProcess):
        self.rc, self.out, self.err, self.err_lines = p.returncode, p.stdout, p.stderr, p.stderr.splitlines()


def test_subprocess_decode_truncated_file(tmp_path, out_dir, valid_ecb, tiny_ckpt):
    bad = write(tmp_path, "bad.ecb", valid_ecb[:-7])
    res = _Proc(run_edgecodec("decode", bad, "-o", out_dir / "x.png", "--model", tiny_ckpt))
    assert res.rc == 1
    assert_clean_error(res, out_dir)


def test_subprocess_encode_truncated_png(tmp_path, out_dir, png, tiny_ckpt):
    data = png.read_bytes()
    half = write(tmp_path, "half.png", data[:len(data) // 2])
    assert_clean_error(_Proc(run_edgecodec("encode", half, "-o", out_dir / "x.ecb", "--model", tiny_ckpt)), out_dir)


def test_subprocess_encode_text_and_decode_with_a_text_model(tmp_path, out_dir, valid_ecb, tiny_ckpt):
    text = write(tmp_path, "notes.png", b"not an image at all\n")
    res = _Proc(run_edgecodec("encode", text, "-o", out_dir / "x.ecb", "--model", tiny_ckpt))
    assert_clean_error(res, out_dir)
    res = _Proc(run_edgecodec("decode", write(tmp_path, "bad.ecb", payload_edit(valid_ecb, "middle y byte")),
                              "-o", out_dir / "x.png", "--model", text))
    assert_clean_error(res, out_dir)
