"""Golden version-2 stream: a key frame and two delta frames that must decode the same forever.

Files (tests/golden/, see its README): ``conditional.pt`` (a briefly trained conditional network
for the golden tiny model), ``stream.ecs`` (3 frames of the golden image: as is, with a moved
patch and noise, with noise only), ``stream.latents.npz`` (each frame's decoded z^ and 16 y^,
int64) and ``stream.frameN.png`` (each frame decoded). Regenerate only on purpose:

    EDGECODEC_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/codec/test_golden_stream.py
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from edgecodec.checkpoint import build_conditional, from_checkpoint
from edgecodec.codec import bitstream
from edgecodec.codec.facade import Codec, latent_hash
from edgecodec.codec.models.conditional import ConditionalEntropy
from edgecodec.codec.models.context import MEAN_UNIT
from edgecodec.codec.stream import StreamDecoder, StreamEncoder, StreamPolicy
from edgecodec.imageio import read_image, write_png
from edgecodec.train import conditional as training

pytestmark = pytest.mark.usefixtures("one_thread")

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CONDITIONAL, STREAM, LATENTS = GOLDEN / "conditional.pt", GOLDEN / "stream.ecs", GOLDEN / "stream.latents.npz"
QUALITY = 60.0
REGEN = os.environ.get("EDGECODEC_REGEN_GOLDEN") == "1"


def frame_png(i: int) -> Path:
    return GOLDEN / f"stream.frame{i}.png"


def golden_frames(image: np.ndarray) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    moved = image.astype(np.int16)
    moved[20:52, 30:70] = image[16:48, 26:66]
    noisy = [np.clip(f + rng.normal(0, 2, f.shape), 0, 255).astype(np.uint8) for f in (moved, image.astype(np.int16))]
    return [image] + noisy


def load_conditional(model) -> ConditionalEntropy:
    return build_conditional(CONDITIONAL, torch.load(CONDITIONAL, weights_only=True), model)


def regenerate(model, image: np.ndarray) -> None:
    frames = golden_frames(image)
    pairs = [training.pair_latents(model, frames[0], f, level) for f in frames[1:] for level in (1.0, 3.0)]
    conditional = training.train(model, pairs, steps=40, lr=1e-2, batch=2, log_every=0, width=8)
    torch.save({"width": 8, "state": conditional.state_dict()}, CONDITIONAL)
    codec = Codec(model, conditional=load_conditional(model))
    encoder = StreamEncoder(codec, QUALITY, StreamPolicy(scene_change=1.0, chain=1))
    coded = [encoder.encode(f).data for f in frames]
    STREAM.write_bytes(bitstream.pack_stream(coded))
    decoder, latents = StreamDecoder(codec), {}
    for i, data in enumerate(coded):
        write_png(frame_png(i), decoder.decode(data))
        latents.update(_latent_arrays(codec, data, decoder, i))
    np.savez(LATENTS, **latents)


def _latent_arrays(codec: Codec, data: bytes, decoder: StreamDecoder, i: int) -> dict[str, np.ndarray]:
    header = bitstream.unpack(data).header
    ref = decoder.references.get(header.ref_seq) if header.is_delta else None
    latent = codec.decode_latent(data, ref)[1]
    return {f"z{i}": latent.z_hat.numpy().astype(np.int64),
            f"y{i}": (latent.y_hat * MEAN_UNIT).numpy().round().astype(np.int64)}


@pytest.fixture(scope="module")
def golden():
    model = from_checkpoint(GOLDEN / "dkic-tiny.pt")
    image = read_image(GOLDEN / "image.png")
    if REGEN:
        regenerate(model, image)
    missing = [p.name for p in (CONDITIONAL, STREAM, LATENTS, *map(frame_png, range(3))) if not p.is_file()]
    if missing:
        pytest.fail(f"golden files missing from {GOLDEN}: {', '.join(missing)} (regenerate only on purpose, "
                    "see this module's docstring)")
    return Codec(model, conditional=load_conditional(model)), image


def test_stream_holds_one_key_and_two_delta_frames(golden):
    codec, image = golden
    frames = [bitstream.unpack(f).header for f in bitstream.unpack_stream(STREAM.read_bytes())]
    assert [h.kind for h in frames] == [bitstream.KEY, bitstream.DELTA, bitstream.DELTA]
    assert [h.seq for h in frames] == [0, 1, 2] and [h.ref_seq for h in frames[1:]] == [0, 0]
    assert frames[0].model_id == codec.model_id and frames[1].model_id == codec.delta_model_id
    assert all((h.width, h.height, h.quality) == (image.shape[1], image.shape[0], QUALITY) for h in frames)


def test_latents_decode_exactly(golden):
    codec, _ = golden
    expected = np.load(LATENTS)
    decoder = StreamDecoder(codec)
    key_latent = None
    for i, data in enumerate(bitstream.unpack_stream(STREAM.read_bytes())):
        got = _latent_arrays(codec, data, decoder, i)
        for name, array in got.items():
            assert np.array_equal(array, expected[name]), f"frame {i}: {name} differs from the golden latent"
        decoder.decode(data)
        if i == 0:
            key_latent = codec.reference(data).latent
    header = bitstream.unpack(bitstream.unpack_stream(STREAM.read_bytes())[1]).header
    assert header.ref_hash == latent_hash(key_latent)


def test_frames_decode_to_the_golden_images(golden):
    codec, _ = golden
    decoder = StreamDecoder(codec)
    for i, data in enumerate(bitstream.unpack_stream(STREAM.read_bytes())):
        out, expected = decoder.decode(data), read_image(frame_png(i))
        diff = np.abs(out.astype(np.int16) - expected.astype(np.int16)).max()
        assert diff <= 1, f"frame {i} differs from the golden image by up to {diff} gray levels"


def test_delta_frames_use_skip_and_coded_positions(golden):
    """The golden deltas exercise both tools: some 16x16 positions skipped, some coded."""
    from edgecodec.codec.scene import flags

    for data in bitstream.unpack_stream(STREAM.read_bytes())[1:2]:
        header, (flag_bytes, _, y_bytes) = bitstream.unpack(data)
        zh, zw = -(-header.height // 64), -(-header.width // 64)
        blocks, inner = flags.decode(flag_bytes, [zh * zw, lambda g: int((~g[0]).sum()) * 16])
        assert len(y_bytes) > 0 and inner.size > 0 and not inner.all(), "expected coded positions"
