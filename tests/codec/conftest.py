"""Codec fixtures: the conditional model that goes with the starter model."""
from __future__ import annotations

from pathlib import Path

import pytest

from edgecodec.checkpoint import load_models
from edgecodec.codec.models.conditional import ConditionalEntropy

from scene_frames import next_frame


@pytest.fixture(scope="session")
def starter_conditional(starter_model) -> ConditionalEntropy:
    """The conditional model shipped with the starter model, or one trained in seconds on two scenes."""
    shipped = load_models(None)[1]
    if shipped is not None:
        return shipped
    from edgecodec.imageio import read_image
    from edgecodec.train import conditional as training
    image = read_image(Path(__file__).resolve().parents[1] / "data" / "kodim23.png")[:256, :256]
    pairs = [training.pair_latents(starter_model, image, next_frame(image, s), level) for s, level in
             ((0, 1.0), (1, 4.0))]
    return training.train(starter_model, pairs, steps=30, lr=1e-2, batch=2, log_every=0, width=8)
