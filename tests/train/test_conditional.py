"""The conditional entropy network: it learns to use the reference, and the command that trains it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgecodec.checkpoint import from_checkpoint
from edgecodec.codec.facade import model_id
from edgecodec.imageio import read_image
from edgecodec.runtime import load_codec
from edgecodec.train import conditional as training
from edgecodec.train.data import CropSampler
from edgecodec.train.scene_pairs import synthetic_pair, video_pairs

pytestmark = pytest.mark.usefixtures("one_thread")
DATA = Path(__file__).resolve().parents[1] / "data"


def static_pairs(model, n: int, seed: int) -> list[training.PairLatents]:
    """A still scene seen twice with independent camera noise: the reference predicts it well."""
    rng = np.random.default_rng(seed)
    scene = read_image(DATA / "kodim15.png")[:128, :128].astype(np.float32)
    noisy = [np.clip(scene + rng.normal(0, 2, scene.shape), 0, 255).astype(np.uint8) for _ in range(2 * n)]
    return [training.pair_latents(model, noisy[2 * i], noisy[2 * i + 1], float(rng.uniform(0, 5)))
            for i in range(n)]


def test_the_network_learns_to_code_a_static_scene_in_fewer_bits(tiny_ckpt):
    model = from_checkpoint(tiny_ckpt)
    torch.manual_seed(0)
    pairs = static_pairs(model, 4, seed=0)
    conditional = training.train(model, pairs, steps=60, lr=5e-3, batch=2, log_every=0, width=8)
    result = training.saving(conditional, static_pairs(model, 2, seed=1))  # held-out noise
    assert result["conditional_bits"] < 0.9 * result["intra_bits"], result


def test_an_untrained_network_is_exactly_the_intra_model(tiny_ckpt):
    from edgecodec.codec.models.conditional import ConditionalEntropy

    model = from_checkpoint(tiny_ckpt)
    pair = static_pairs(model, 1, seed=2)[0]
    conditional = ConditionalEntropy(model.config, 4).train()
    with torch.no_grad():
        training.slice_bits(conditional, pair, noisy=True)  # the integer layers' observers see data
    conditional.eval().update()
    result = training.saving(conditional, [pair])
    assert result["conditional_bits"] == pytest.approx(result["intra_bits"])


def test_pairs_from_video_frames_and_photos():
    rng = np.random.default_rng(0)
    frames = [np.full((64, 64, 3), i, np.uint8) for i in range(10)]
    pairs = list(video_pairs(frames, 20, 3, rng))
    assert all(0 < int(cur[0, 0, 0]) - int(ref[0, 0, 0]) <= 3 for ref, cur in pairs)
    ref, cur = synthetic_pair(CropSampler(DATA, 64), rng)
    assert ref.shape == cur.shape == (64, 64, 3) and ref.dtype == cur.dtype == np.uint8
    assert 0 < np.abs(ref.astype(int) - cur.astype(int)).mean() < 60  # the same scene, changed
    with pytest.raises(ValueError):
        list(video_pairs(frames[:1], 1, 3, rng))


def test_train_conditional_command(cli, tmp_path, tiny_ckpt):
    out = tmp_path / "with-conditional.pt"
    res = cli("train-conditional", "--model", tiny_ckpt, "-o", out, "--photos", DATA, "--pairs", 4, "--steps", 3)
    assert res.rc == 0, res.err
    codec = load_codec(str(out))
    assert codec.conditional is not None
    assert codec.model_id == model_id(from_checkpoint(tiny_ckpt))  # key frames and the intra id unchanged
    assert codec.delta_model_id != load_codec(tiny_ckpt).delta_model_id


@pytest.mark.parametrize("args,match", [((), "need --video or --photos"), (("--photos", DATA, "--pairs", 1), "pairs"),
                                        (("--photos", DATA, "--steps", 0), "steps")])
def test_train_conditional_refuses_bad_options(cli, tmp_path, tiny_ckpt, args, match):
    res = cli("train-conditional", "--model", tiny_ckpt, "-o", tmp_path / "x.pt", *args)
    assert res.rc != 0 and match in res.err and not (tmp_path / "x.pt").exists()
    res = cli("train-conditional", "--model", tiny_ckpt, "-o", tiny_ckpt, "--photos", DATA)
    assert res.rc != 0 and res.err.count("\n") == 1
