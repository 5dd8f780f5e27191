"""Golden .ecb files: any change that would stop old files from decoding fails here.

The files in tests/golden/ were written once by this module (see tests/golden/README.md).
They are version-1 files (the writer now writes version 2), kept to prove that old
files still decode; they cannot be regenerated any more. The version-2 golden stream
is in test_golden_stream.py.

Without that variable a missing golden file is a failure, never a skip.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgecodec.checkpoint import ModelLoadError, from_checkpoint
from edgecodec import codec
from edgecodec.codec import bitstream
from edgecodec.codec.models.context import MEAN_UNIT
from edgecodec.imageio import read_image

pytestmark = pytest.mark.usefixtures("one_thread")

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SOURCE = Path(__file__).resolve().parents[1] / "data" / "kodim23.png"
CROP = (slice(200, 271), slice(300, 393))  # 71 rows x 93 columns: neither a multiple of 64
# 35: low rate, between gain levels (level 1.75 of 0..5); 95: the untrained tiny model's
# context network predicts non-zero means there, so the mean path is covered too.
QUALITIES = (35, 95)
REGEN = os.environ.get("EDGECODEC_REGEN_GOLDEN") == "1"

CHECKPOINT = GOLDEN / "dkic-tiny.pt"
IMAGE = GOLDEN / "image.png"


def ecb(q: int) -> Path:
    return GOLDEN / f"q{q}.ecb"


def latent(q: int) -> Path:
    return GOLDEN / f"q{q}.latent.npy"


def decoded(q: int) -> Path:
    return GOLDEN / f"q{q}.decoded.png"


def all_files() -> list[Path]:
    return [CHECKPOINT, IMAGE] + [f(q) for q in QUALITIES for f in (ecb, latent, decoded)]


def latent_symbols(model, data: bytes) -> np.ndarray:
    """Entropy-decoded latent in units of 1/MEAN_UNIT, as exact integers."""
    header, streams = bitstream.unpack(data)
    y_hat = model.decode_latent(*streams, codec.latent_shape(header.height, header.width)).y_hat
    scaled = y_hat.numpy() * MEAN_UNIT
    assert np.array_equal(scaled, np.round(scaled)), "decoded latent is not a multiple of 1/MEAN_UNIT"
    return scaled.astype(np.int64)


def regenerate() -> None:
    """Version-1 files are history: today's writer writes version 2, so they cannot be re-made."""
    pytest.fail("the version-1 golden files cannot be regenerated (the writer now writes version 2); "
                "if the model or the decoding changed on purpose, old version-1 files no longer decode: "
                "drop this module and say so in the release notes")


@pytest.fixture(scope="module")
def golden_model():
    if REGEN:
        regenerate()
    missing = [p.name for p in all_files() if not p.is_file()]
    if missing:
        pytest.fail(f"golden files missing from {GOLDEN}: {', '.join(missing)} "
                    "(version-1 files cannot be regenerated: restore them from git)")
    try:
        return from_checkpoint(CHECKPOINT)
    except ModelLoadError as e:
        pytest.fail(f"the golden checkpoint no longer loads, so the model architecture changed and every "
                    f"existing checkpoint and .ecb file breaks (see tests/golden/README.md). {str(e).splitlines()[0]}")


@pytest.fixture(scope="module")
def golden_image(golden_model) -> np.ndarray:
    return read_image(IMAGE)


def test_golden_image(golden_image):
    assert golden_image.shape == (71, 93, 3)
    assert golden_image.dtype == np.uint8


def test_checkpoint_is_the_tiny_model(golden_model):
    assert golden_model.config.name == "dkic-tiny"  # the config travels in the checkpoint


@pytest.mark.parametrize("q", QUALITIES)
def test_header(golden_model, golden_image, q):
    data = ecb(q).read_bytes()
    header, (zlen, ylen) = bitstream.read_header(data)
    assert (header.width, header.height) == (golden_image.shape[1], golden_image.shape[0])
    assert header.quality == q
    assert header.version == 1 and header.kind == bitstream.KEY
    assert header.model_id == codec.model_id(golden_model), "model id hash changed: old files would be refused"
    assert zlen > 0 and ylen > 0
    assert len(data) == bitstream.HEADER_SIZE_V1 + zlen + ylen


@pytest.mark.parametrize("q", QUALITIES)
def test_unpack_and_repack_as_version_2(golden_model, q):
    """A version-1 file's streams, re-packed by today's writer as a version-2 key frame, decode to
    the same latent: the streams themselves did not change meaning."""
    data = ecb(q).read_bytes()
    header, streams = bitstream.unpack(data)
    repacked = bitstream.pack(bitstream.Header(header.width, header.height, header.quality, header.model_id),
                              streams)
    assert repacked[4] == 2 and repacked[bitstream.HEADER_SIZE:] == data[bitstream.HEADER_SIZE_V1:]
    assert np.array_equal(latent_symbols(golden_model, repacked), np.load(latent(q)))


@pytest.mark.parametrize("q", QUALITIES)
def test_entropy_decoded_latent_is_bit_exact(golden_model, q):
    expected = np.load(latent(q))
    got = latent_symbols(golden_model, ecb(q).read_bytes())
    assert got.dtype == expected.dtype == np.int64
    assert got.shape == expected.shape == (1, golden_model.config.latent, 8, 8)  # 128x128 padded / 16
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} latent symbols differ"


@pytest.mark.parametrize("q", QUALITIES)
def test_decoded_image(golden_model, golden_image, q):
    out = codec.Codec(golden_model).decode(ecb(q).read_bytes())
    expected = read_image(decoded(q))
    assert out.shape == expected.shape == golden_image.shape
    diff = np.abs(out.astype(np.int16) - expected.astype(np.int16)).max()
    assert diff <= 1, f"decoded image differs from the golden one by up to {diff} gray levels"


def test_golden_files_exercise_the_codec(golden_model):
    """Sanity of the golden set itself: two different rates, many non-zero symbols, and
    some non-zero predicted means (latent values off the 1/MEAN_UNIT * MEAN_UNIT grid)."""
    latents = [np.load(latent(q)) for q in QUALITIES]
    assert ecb(QUALITIES[0]).read_bytes() != ecb(QUALITIES[1]).read_bytes()
    assert not np.array_equal(*latents)
    assert all(np.count_nonzero(a) >= 100 for a in latents)
    assert any(np.count_nonzero(a % MEAN_UNIT) for a in latents), "no golden file covers non-zero means"
