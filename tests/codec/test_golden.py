"""Golden .ecb files: any change that would stop old files from decoding fails here.

The files in tests/golden/ were written once by this module (see tests/golden/README.md).
Regenerate them only on purpose, when the format or the model is meant to change:

    EDGECODEC_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/codec/test_golden.py

Without that variable a missing golden file is a failure, never a skip.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import pytest

from edgecodec.train.loop import rd_loss
from edgecodec.checkpoint import ModelLoadError, from_checkpoint, init_model, save_checkpoint
from edgecodec.codec import bitstream, codec
from edgecodec.codec.models.config import get_config
from edgecodec.codec.models.context import MEAN_UNIT
from edgecodec.imageio import read_image, write_png

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
    header, z, y = bitstream.unpack(data)
    y_hat = model.decode_latent(z, y, codec.latent_shape(header.height, header.width))
    scaled = y_hat.numpy() * MEAN_UNIT
    assert np.array_equal(scaled, np.round(scaled)), "decoded latent is not a multiple of 1/MEAN_UNIT"
    return scaled.astype(np.int64)


def briefly_trained_tiny(steps: int = 60):
    """The tiny model after a few optimizer steps on the source image: non-trivial means and scales."""
    torch.manual_seed(0)
    model = init_model(get_config("dkic-tiny"), seed=0).train()
    x = codec.image_to_tensor(read_image(SOURCE))[:, :, :256, :256]
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(steps):
        parts = rd_loss(model, x, torch.tensor([model.config.quality_levels - 1.0]), "mse")
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
    model.eval().update()
    return model


def regenerate() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for stale in GOLDEN.glob("q*.*"):
        stale.unlink()
    save_checkpoint(CHECKPOINT, briefly_trained_tiny())
    model = from_checkpoint(CHECKPOINT)  # code with the model exactly as it will be loaded
    image = np.ascontiguousarray(read_image(SOURCE)[CROP])
    write_png(IMAGE, image)
    image = read_image(IMAGE)
    for q in QUALITIES:
        data = codec.encode(model, image, q)
        ecb(q).write_bytes(data)
        np.save(latent(q), latent_symbols(model, data))
        write_png(decoded(q), codec.decode(model, data))


@pytest.fixture(scope="module")
def golden_model():
    if REGEN:
        regenerate()
    missing = [p.name for p in all_files() if not p.is_file()]
    if missing:
        pytest.fail(f"golden files missing from {GOLDEN}: {', '.join(missing)} "
                    "(regenerate only on purpose: EDGECODEC_REGEN_GOLDEN=1, see tests/golden/README.md)")
    try:
        return from_checkpoint(CHECKPOINT)
    except ModelLoadError as e:
        pytest.fail(f"the golden checkpoint no longer loads, so the model architecture changed and every "
                    f"existing checkpoint and .ecb file breaks; if that is intended, regenerate "
                    f"(EDGECODEC_REGEN_GOLDEN=1, see tests/golden/README.md). {str(e).splitlines()[0]}")


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
    header, zlen, ylen = bitstream.read_header(data)
    assert (header.width, header.height) == (golden_image.shape[1], golden_image.shape[0])
    assert header.quality == q
    assert header.version == 1
    assert header.model_id == codec.model_id(golden_model), "model id hash changed: old files would be refused"
    assert zlen > 0 and ylen > 0
    assert len(data) == bitstream.HEADER_SIZE + zlen + ylen


@pytest.mark.parametrize("q", QUALITIES)
def test_unpack_and_repack(golden_model, q):
    data = ecb(q).read_bytes()
    header, z, y = bitstream.unpack(data)
    assert bitstream.pack(header, z, y) == data  # the writer still writes the same bytes


@pytest.mark.parametrize("q", QUALITIES)
def test_entropy_decoded_latent_is_bit_exact(golden_model, q):
    expected = np.load(latent(q))
    got = latent_symbols(golden_model, ecb(q).read_bytes())
    assert got.dtype == expected.dtype == np.int64
    assert got.shape == expected.shape == (1, golden_model.config.latent, 8, 8)  # 128x128 padded / 16
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} latent symbols differ"


@pytest.mark.parametrize("q", QUALITIES)
def test_decoded_image(golden_model, golden_image, q):
    out = codec.decode(golden_model, ecb(q).read_bytes())
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
