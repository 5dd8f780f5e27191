"""Training the conditional entropy model on top of a frozen intra model.

    (reference, current) pair ─► frozen intra model ─► reference y^, current y, intra (index, mean)
                                  (once per pair: cached)          │
                                                                   ▼
                          conditional network (trained) ─► (index', mean') ─► bits of current y

The intra model never changes, so the loss is the rate alone: the distortion of a coded
position does not depend on the entropy parameters (y^ = round(y - mean) + mean). Every
position counts as coded, as if nothing were skipped; skipping is the encoder's decision.
"""
from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..codec.facade import image_to_tensor
from ..codec.entropy import gaussian
from ..codec.models.conditional import ConditionalEntropy
from ..codec.models.context import MEAN_UNIT, dequantize
from ..codec.models.dkic import DKIC


@dataclass(frozen=True)
class PairLatents:
    """What the conditional network sees for one pair at one quality level (integer units of 1/16)."""

    y: Tensor  # current frame's gained latent, unrounded (not in 1/16 units)
    index: Tensor  # intra scale index at every position
    mean: Tensor  # intra mean
    decoded: Tensor  # current frame's latent decoded with the intra parameters
    ref: Tensor  # the reference's coded latent


@torch.no_grad()
def intra_parameters(model: DKIC, y: Tensor, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(index, mean, decoded latent) of the intra context model at every position (frozen model)."""
    index, mean = torch.zeros_like(y), torch.zeros_like(y)
    slices = model.context.slices

    def resolve(i, mask, idx, mu):
        lo, hi = sum(slices[:i]), sum(slices[:i + 1])
        where = torch.ones_like(idx, dtype=torch.bool) if mask is None else mask.expand_as(idx)
        index[:, lo:hi] = torch.where(where, idx, index[:, lo:hi])
        mean[:, lo:hi] = torch.where(where, mu, mean[:, lo:hi])
        return dequantize(torch.round(y[:, lo:hi] - mu / MEAN_UNIT), mu)

    decoded = model.context.code(model.hyper_synthesis(torch.round(z).double()), resolve)
    return index, mean, decoded


@torch.no_grad()
def pair_latents(model: DKIC, ref_image: np.ndarray, cur_image: np.ndarray, level: float) -> PairLatents:
    """Cache one pair through the frozen intra model."""
    ref = model.compress(image_to_tensor(ref_image), level)[2]
    y, z = model.analyse(image_to_tensor(cur_image), level)
    index, mean, decoded = intra_parameters(model, y, z)
    return PairLatents(y.float(), index.float(), mean.float(), decoded.float(), (ref.y_hat * MEAN_UNIT).float())


def slice_bits(conditional: ConditionalEntropy | None, p: PairLatents, noisy: bool) -> Tensor:
    """Bits of the current latent under the conditional parameters (None: the intra ones)."""
    total = p.y.new_zeros(())
    slices = conditional.slices if conditional is not None else None
    for i, (lo, hi) in enumerate(_bounds(slices or _slices_of(p))):
        index, mean = p.index[:, lo:hi], p.mean[:, lo:hi]
        if conditional is not None:
            prev = (p.decoded[:, :lo], p.ref[:, :lo]) if i else (None, None)
            index, mean = conditional(i, index, mean, p.ref[:, lo:hi], *prev)
        residual = p.y[:, lo:hi] - mean / MEAN_UNIT
        residual = residual + gaussian.uniform_noise_like(residual) if noisy else torch.round(residual)
        likelihood = gaussian.likelihood(residual, gaussian.scale_from_index(index))
        total = total - torch.log2(likelihood).sum()
    return total


def _slices_of(p: PairLatents) -> tuple[int, ...]:
    return (p.y.shape[1],)


def _bounds(slices: tuple[int, ...]) -> list[tuple[int, int]]:
    edges = [0] + list(np.cumsum(slices))
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def train(model: DKIC, pairs: list[PairLatents], steps: int, lr: float = 1e-3, batch: int = 4,
          seed: int = 0, log_every: int = 100, width: int | None = None) -> ConditionalEntropy:
    """Train a conditional network on cached pairs (the intra model stays frozen); returns it frozen."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    conditional = ConditionalEntropy(model.config, **({"width": width} if width else {})).train()
    opt = torch.optim.Adam(conditional.parameters(), lr)
    for step in range(steps):
        rate = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in opt.param_groups:
            group["lr"] = rate
        chosen = rng.sample(pairs, min(batch, len(pairs)))
        elements = sum(p.y.numel() for p in chosen)
        loss = sum(slice_bits(conditional, p, noisy=True) for p in chosen) / elements
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step}: {float(loss.detach()):.4f} bits per latent element", flush=True)
    conditional.eval().update()
    return conditional


@torch.no_grad()
def saving(conditional: ConditionalEntropy, pairs: Iterable[PairLatents]) -> dict[str, float]:
    """Bits of the held-out pairs with the intra and with the conditional parameters (all coded)."""
    intra = cond = 0.0
    for p in pairs:
        doubled = PairLatents(*(t.double() for t in (p.y, p.index, p.mean, p.decoded, p.ref)))
        intra += float(slice_bits(None, doubled, noisy=False))
        cond += float(slice_bits(conditional, doubled, noisy=False))
    return {"intra_bits": intra, "conditional_bits": cond, "saving_pct": 100 * (1 - cond / max(intra, 1e-9))}


@dataclass
class ConditionalOptions:
    """Command-line options of ``edgecodec train-conditional``."""

    model: str | None  # the intra model file (None: the shipped one)
    output: str
    video: str | None = None
    video_frames: tuple[int, int] = (0, 400)  # [first, last) frames used for training pairs
    photos: str | None = None
    pairs: int = 200
    max_gap: int = 100
    steps: int = 2000
    lr: float = 1e-3
    batch: int = 4
    seed: int = 0
    held_out: tuple[int, int] | None = None  # video frames for the reported saving (never trained on)


def video_frames(path: str, first: int, last: int) -> list[np.ndarray]:
    """RGB frames [first, last) of a video file."""
    from ..videoio import Frames

    frames = Frames(path, limit=last)
    try:
        out = [f for i, f in enumerate(frames) if i >= first]
    finally:
        frames.close()
    if len(out) < 2:
        raise ValueError(f"{path}: fewer than two frames in {first}..{last}")
    return out


def build_pairs(model: DKIC, opts: ConditionalOptions, rng: np.random.Generator) -> list[PairLatents]:
    """Half the pairs from the video's training frames (if any), the rest synthesised from photos."""
    from .data import CropSampler
    from .scene_pairs import synthetic_pair, video_pairs

    n_video = opts.pairs // 2 if opts.video and opts.photos else (opts.pairs if opts.video else 0)
    images: list[tuple[np.ndarray, np.ndarray]] = []
    if n_video:
        images += list(video_pairs(video_frames(opts.video, *opts.video_frames), n_video, opts.max_gap, rng))
    if opts.pairs - n_video:
        photos = CropSampler(opts.photos, 256)
        images += [synthetic_pair(photos, rng) for _ in range(opts.pairs - n_video)]
    levels = rng.uniform(0, model.config.quality_levels - 1, len(images))
    return [pair_latents(model, ref, cur, float(level)) for (ref, cur), level in zip(images, levels)]
