"""Encoder-side adaptation: a short rate-distortion fine-tune of the encoder-only transforms on site frames.

Trained: the analysis and the hyper-analysis. Both are encoder-only (``codec.ENCODER_ONLY``):
the analysis decides what the latent carries, the hyper-analysis how well the hyperprior
predicts its scales on this scene. Not trained: the forward gains. They set the quantisation
step per channel at each quality; the server's inverse gains are fixed, so moving them would
rescale what the unchanged synthesis receives and shift what each quality means (the rate
table) -- too much freedom for a few hundred steps on a handful of frames.

Everything on the decoder side (synthesis, entropy model, integer networks, tables, inverse
gains) is frozen and stays in eval mode; afterwards its state must be bit-identical and the
model id unchanged, or adaptation raises. Loss: ``rd_loss`` (lambda(level) * 255^2 * MSE + bpp)
with a level drawn uniformly per crop, random crops with horizontal flips, Adam, gradient
norm clipped to 1 (as in training).
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch

from ..codec.facade import ENCODER_ONLY, model_id
from ..codec.models.dkic import DKIC, PAD_MULTIPLE
from ..train.loop import rd_loss

ADAPTED_PARTS = ("analysis", "hyper_analysis")
Tick = Callable[[float], None]


@dataclass
class AdaptOptions:
    """Fine-tuning settings (the command's defaults, 200 steps at 3e-5, take about a minute and a half
    for dkic-small on one CPU core)."""

    steps: int
    lr: float
    batch: int = 4
    crop: int = 128
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def decoder_state(model: DKIC) -> dict[str, torch.Tensor]:
    """Copies of every decoder-side tensor of the state dict (what the model id hashes)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith(ENCODER_ONLY)}


def crop_size(images: list[np.ndarray], wanted: int) -> int:
    """The crop side: ``wanted``, or less for small frames, a multiple of 64."""
    side = min(wanted, min(min(im.shape[:2]) for im in images)) // PAD_MULTIPLE * PAD_MULTIPLE
    if side < PAD_MULTIPLE:
        raise ValueError(f"frames are too small to adapt on (need at least {PAD_MULTIPLE} pixels a side)")
    return side


def random_crops(images: list[np.ndarray], count: int, side: int, rng: np.random.Generator) -> torch.Tensor:
    """A float batch (count, 3, side, side) in [0, 1] of random crops, half of them mirrored."""
    crops = []
    for _ in range(count):
        image = images[rng.integers(len(images))]
        y = rng.integers(image.shape[0] - side + 1)
        x = rng.integers(image.shape[1] - side + 1)
        patch = image[y:y + side, x:x + side]
        crops.append(patch[:, ::-1] if rng.random() < 0.5 else patch)
    return torch.from_numpy(np.ascontiguousarray(np.stack(crops))).permute(0, 3, 1, 2).float().div_(255.0)


def _prepare(model: DKIC) -> list[torch.nn.Parameter]:
    """Freeze everything but the adapted parts; train mode for those (and for the model's noise)."""
    for p in model.parameters():
        p.requires_grad_(False)
    model.train()
    for name, child in model.named_children():
        if name not in ADAPTED_PARTS:
            child.eval()
    params = [p for part in ADAPTED_PARTS for p in getattr(model, part).parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


def check_decoder_unchanged(before: dict[str, torch.Tensor], before_id: bytes, model: DKIC) -> None:
    """Raise RuntimeError unless the decoder side is bit-identical and the model id unchanged."""
    after = decoder_state(model)
    changed = [k for k in before if k not in after or not torch.equal(before[k], after[k])]
    if changed or set(after) != set(before) or model_id(model) != before_id:
        raise RuntimeError(f"adaptation changed the decoder side ({changed[:3]}): refusing to use it")


def adapt_encoder(model: DKIC, images: list[np.ndarray], opts: AdaptOptions,
                  tick: Tick = lambda loss: None) -> DKIC:
    """A copy of ``model`` whose encoder-only transforms are fine-tuned on ``images``."""
    if model.config.int8:
        raise ValueError("adapt the float model, then calibrate int8 ranges")
    adapted = copy.deepcopy(model)
    before, before_id = decoder_state(adapted), model_id(adapted)
    rng = np.random.default_rng(opts.seed)
    torch.manual_seed(opts.seed)
    side = crop_size(images, opts.crop)
    optimizer = torch.optim.Adam(_prepare(adapted), lr=opts.lr)
    levels = adapted.config.quality_levels - 1
    for _ in range(opts.steps):
        x = random_crops(images, opts.batch, side, rng)
        level = torch.from_numpy(rng.uniform(0, levels, opts.batch)).float()
        loss = rd_loss(adapted, x, level, "mse")["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in adapted.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        tick(float(loss.detach()))
    for p in adapted.parameters():
        p.requires_grad_(False)
    adapted.eval()
    check_decoder_unchanged(before, before_id, adapted)
    return adapted
