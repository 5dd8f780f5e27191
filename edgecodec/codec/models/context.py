"""Coarse-to-fine entropy parameters: hyper (global) -> channel -> spatial, in integers.

For slice i of the latent (uneven slices, ELIC-style):

    hyper features ──────────────────────────┐
    y^ of slices < i ─► channel context ─────┼─► aggregate ─► scale index, mean (1/16)
    anchors of y^_i ─► spatial context ──────┘   (spatial slices only; zeros in the anchor pass)

Spatial slices are coded in two checkerboard passes (anchors, then the rest);
the others in one pass. Every network here is integer (see layers/quant.py).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..entropy.gaussian import NUM_SCALES
from ..layers.quant import SIGNED_MAX, IntConv2d, QTensor, qcat
from .config import CodecConfig

MEAN_UNIT = 16  # means are fixed-point with 4 fractional bits


def dequantize(symbols: Tensor, mean: Tensor) -> Tensor:
    """Coded symbols and their means (1/MEAN_UNIT units) -> decoded latent in 1/MEAN_UNIT units."""
    return symbols * MEAN_UNIT + mean


def latent_qtensor(y_int: Tensor) -> QTensor:
    """Decoded latent in units of 1/MEAN_UNIT, clamped to the integer input range."""
    v = y_int.clamp(-SIGNED_MAX, SIGNED_MAX)
    return QTensor(v, torch.full((v.shape[1],), 1.0 / MEAN_UNIT, dtype=v.dtype, device=v.device))


def checkerboard(h: int, w: int, device=None) -> Tensor:
    """Boolean (H, W) map of the anchor positions ((row + col) even)."""
    r = torch.arange(h, device=device).view(-1, 1)
    c = torch.arange(w, device=device).view(1, -1)
    return (r + c) % 2 == 0


class SliceContext(nn.Module):
    """Integer parameter network for one slice."""

    def __init__(self, config: CodecConfig, index: int):
        super().__init__()
        ch = config.slices[index]
        prev = sum(config.slices[:index])
        cw, aw = config.context_width, config.aggregate_width
        self.spatial = config.spatial[index]
        sw = min(2 * ch, cw // 2)
        self.channel = nn.ModuleList([IntConv2d(prev, cw, 3), IntConv2d(cw, cw, 1)]) if prev else None
        self.space = IntConv2d(ch, sw, 5) if self.spatial else None
        cin = config.hyper_features + (cw if prev else 0) + (sw if self.spatial else 0)
        self.aggregate = nn.ModuleList([IntConv2d(cin, aw, 1), IntConv2d(aw, aw, 1)])
        self.index_head = IntConv2d(aw, ch, 1, lo=0, hi=NUM_SCALES - 1, fixed_scale=1.0)
        self.mean_head = IntConv2d(aw, ch, 1, lo=-SIGNED_MAX, hi=SIGNED_MAX, fixed_scale=1.0 / MEAN_UNIT)

    def channel_context(self, previous: QTensor | None) -> QTensor | None:
        if self.channel is None or previous is None:
            return None
        q = previous
        for layer in self.channel:
            q = layer(q)
        return q

    def params(self, hyper: QTensor, channel: QTensor | None, anchors: QTensor | None) -> tuple[Tensor, Tensor]:
        """(scale index, mean in 1/16 units) for every position of the slice."""
        parts = [hyper] + ([channel] if channel is not None else [])
        if self.space is not None:
            if anchors is None:  # anchor pass: no spatial context yet
                n, _, h, w = hyper.values.shape
                zeros = hyper.values.new_zeros(n, self.space.weight.shape[1], h, w)
                anchors = latent_qtensor(zeros)
            parts.append(self.space(anchors))
        q = qcat(parts)
        for layer in self.aggregate:
            q = layer(q)
        return self.index_head(q).values, self.mean_head(q).values


class ContextModel(nn.Module):
    """All slices' parameter networks and the coding order they imply."""

    def __init__(self, config: CodecConfig):
        super().__init__()
        self.slices = tuple(config.slices)
        self.nets = nn.ModuleList([SliceContext(config, i) for i in range(len(self.slices))])

    def code(self, hyper: QTensor, resolve) -> Tensor:
        """Run the coding order; ``resolve(i, mask, index, mean)`` returns slice i's decoded latent
        in units of 1/MEAN_UNIT (same shape as ``index``), valid where ``mask`` is true (None = all):
        ``symbol * MEAN_UNIT + mean`` for a coded position (see :func:`dequantize`); a delta frame
        returns the reference's value where it skips.

        Returns the decoded latent in units of 1/MEAN_UNIT (N, M, H, W).
        """
        n, _, h, w = hyper.values.shape
        anchor_map = checkerboard(h, w, hyper.values.device)
        decoded: list[Tensor] = []
        for i, net in enumerate(self.nets):
            prev = latent_qtensor(torch.cat(decoded, 1)) if decoded else None
            ctx = net.channel_context(prev)
            index, mean = net.params(hyper, ctx, None)
            if not net.spatial:
                decoded.append(resolve(i, None, index, mean))
                continue
            y_anchor = resolve(i, anchor_map, index, mean)
            y_anchor = torch.where(anchor_map, y_anchor, torch.zeros_like(y_anchor))
            index2, mean2 = net.params(hyper, ctx, latent_qtensor(y_anchor))
            y_rest = resolve(i, ~anchor_map, index2, mean2)
            decoded.append(torch.where(anchor_map, y_anchor, y_rest))
        return torch.cat(decoded, 1)
