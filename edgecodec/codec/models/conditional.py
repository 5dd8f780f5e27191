"""Conditional entropy parameters for delta frames: the intra parameters, corrected by the reference.

For slice i at every coded position of a delta frame (all integer, like the intra path):

    reference y^_i - intra mean ──┐
    intra scale index ────────────┼─► IntConv 3x3 ─ReLU─ IntConv 1x1 ─ReLU─┬─► gate g in [0, 1] (1/16)
    change of slices < i ─────────┘   (decoded y^_<i minus the reference)  └─► index shift in [-63, 63]

    mean'  = mean + g * (reference - mean)        (integer: (g16 * d + 8) >> 4)
    index' = clamp(index + shift, 0, 63)

Where the scene is static the reference predicts the latent better than the intra
context (g -> 1, a smaller scale); where something moved, the network keeps the intra
parameters (g -> 0, shift -> 0). The heads start at zero, so an untrained network is
exactly the intra model. The intra model stays frozen: key frames and its model id do
not change; this network has its own id, carried by delta frames.
"""
from __future__ import annotations

import hashlib

import torch
from torch import Tensor, nn

from ..entropy.gaussian import NUM_SCALES
from ..layers.quant import SIGNED_MAX, IntConv2d, QTensor, qcat
from .config import CodecConfig
from .context import MEAN_UNIT

GATE_UNIT = 16
DEFAULT_WIDTH = 32


def _signed(values: Tensor, unit: float) -> QTensor:
    v = values.clamp(-SIGNED_MAX, SIGNED_MAX)
    return QTensor(v, torch.full((v.shape[1],), unit, dtype=v.dtype, device=v.device))


def floor_ste(x: Tensor) -> Tensor:
    """Floor with a straight-through gradient."""
    return x + (torch.floor(x) - x).detach()


class SliceConditional(nn.Module):
    """Integer correction of one slice's (scale index, mean) from the reference."""

    def __init__(self, channels: int, previous: int, width: int):
        super().__init__()
        self.body = nn.ModuleList([IntConv2d(2 * channels + previous, width, 3), IntConv2d(width, width, 1)])
        self.gate = IntConv2d(width, channels, 1, lo=0, hi=GATE_UNIT, fixed_scale=1.0 / GATE_UNIT)
        self.shift = IntConv2d(width, channels, 1, lo=-(NUM_SCALES - 1), hi=NUM_SCALES - 1, fixed_scale=1.0)
        for head in (self.gate, self.shift):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, index: Tensor, mean: Tensor, ref: Tensor, change: Tensor | None) -> tuple[Tensor, Tensor]:
        """Inputs in integer units (means and latents in 1/MEAN_UNIT); returns (index', mean')."""
        parts = [_signed(ref - mean, 1.0 / MEAN_UNIT), _signed(index, 1.0)]
        if change is not None:
            parts.append(_signed(change, 1.0 / MEAN_UNIT))
        q = qcat(parts)
        for layer in self.body:
            q = layer(q)
        g = self.gate(q).values
        new_mean = mean + floor_ste((g * (ref - mean) + GATE_UNIT // 2) / GATE_UNIT)
        new_index = (index + self.shift(q).values).clamp(0, NUM_SCALES - 1)
        return new_index, new_mean


class ConditionalEntropy(nn.Module):
    """One :class:`SliceConditional` per slice of the intra model's latent."""

    def __init__(self, config: CodecConfig, width: int = DEFAULT_WIDTH):
        super().__init__()
        self.slices = tuple(config.slices)
        self.width = width
        self.nets = nn.ModuleList([SliceConditional(ch, sum(self.slices[:i]), width)
                                   for i, ch in enumerate(self.slices)])

    def forward(self, i: int, index: Tensor, mean: Tensor, ref: Tensor, previous: Tensor | None,
                ref_previous: Tensor | None) -> tuple[Tensor, Tensor]:
        """Slice i's conditional (index, mean); ``previous`` / ``ref_previous``: slices < i (or None)."""
        change = None if previous is None else previous - ref_previous
        return self.nets[i](index, mean, ref, change)

    @torch.no_grad()
    def update(self) -> None:
        """Freeze the integer layers (before coding)."""
        for module in self.modules():
            if isinstance(module, IntConv2d):
                module.freeze()

    def identity(self) -> bytes:
        """16-byte content hash of the frozen network (part of a delta frame's model id)."""
        h = hashlib.sha256(f"conditional:{self.slices}:{self.width}".encode())
        for name, t in sorted(self.state_dict().items()):
            t = t.detach().cpu().contiguous().reshape(-1)
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        return h.digest()[:16]
