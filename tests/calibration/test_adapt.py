"""Encoder adaptation changes only encoder-side weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgecodec.calibration.adapt import (
    AdaptOptions,
    adapt_encoder,
    check_decoder_unchanged,
    crop_size,
    decoder_state,
    random_crops,
)
from edgecodec.checkpoint import from_checkpoint
from edgecodec import codec
from edgecodec.imageio import read_image

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def adapted(model):
    image = read_image(GOLDEN / "image.png")
    return adapt_encoder(model, [image], AdaptOptions(steps=3, lr=1e-3, batch=2, crop=64))


def test_only_encoder_side_weights_move(model, adapted):
    assert codec.model_id(adapted) == codec.model_id(model)
    before, after = decoder_state(model), decoder_state(adapted)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    moved = [k for k, v in adapted.state_dict().items() if not torch.equal(v, model.state_dict()[k])]
    assert moved and all(k.startswith(("analysis.", "hyper_analysis.")) for k in moved)
    assert not adapted.training and not any(p.requires_grad for p in adapted.parameters())


def test_a_changed_decoder_side_is_refused(model, adapted):
    before = decoder_state(model)
    broken = from_checkpoint(GOLDEN / "dkic-tiny.pt")
    with torch.no_grad():
        broken.synthesis[-1][0].bias.add_(1e-3)
    with pytest.raises(RuntimeError, match="changed the decoder side"):
        check_decoder_unchanged(before, codec.model_id(model), broken)
    check_decoder_unchanged(before, codec.model_id(model), adapted)


def test_crops_are_multiples_of_64_and_in_range():
    image = np.arange(150 * 200 * 3, dtype=np.uint32).reshape(150, 200, 3).astype(np.uint8)
    assert crop_size([image], 256) == 128 and crop_size([image], 100) == 64
    batch = random_crops([image], 3, 128, np.random.default_rng(0))
    assert batch.shape == (3, 3, 128, 128) and 0 <= float(batch.min()) and float(batch.max()) <= 1
    with pytest.raises(ValueError, match="too small"):
        crop_size([image[:40]], 128)
