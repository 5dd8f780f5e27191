"""Integer dynamic kernel for the hyper-synthesis (the seed's coarse global context).

    x ──► IntConv 1x1 ──────────────────────────► v ──┐
    │                                                 ├─► int bilinear sampling ─► requant ─► IntConv 1x1 ─┐
    └──► IntConv dw kxk (clipped ReLU) ─┬─► offsets (1/8 px, clamped to ±bound)                            │
                                        └─► mask (1/64, clamped to [-1, 1])                                │
    x ───────────────────────────────────────────────────────────────────────── + (clipped ReLU) ◄──────┘

Departures from the float block (recorded in docs/DESIGN.md): no LayerNorm and
no softmax (neither is exact in integers); offsets are bounded by clamping and
the modulation is a bounded linear scalar as in DCNv4, initialised to 1/K.
"""
from __future__ import annotations

import torch
from torch import nn

from ..ops.deform_sampling import deform_sample
from ..ops.deform_sampling_int import deform_sample_int
from .quant import RELU_MAX, SIGNED_MAX, IntConv2d, IntRequant, QTensor

SUBPEL = 8
MASK_UNIT = 64


class IntDynamicKernelBlock(nn.Module):
    """Residual integer dynamic-kernel block on clipped-ReLU activations."""

    def __init__(self, channels: int, groups: int, kernel_size: int = 3, offset_bound: int = 4):
        super().__init__()
        k = kernel_size * kernel_size
        self.groups, self.kernel_size = groups, kernel_size
        self.input_proj = IntConv2d(channels, channels, 1, lo=-SIGNED_MAX, hi=SIGNED_MAX)
        self.dw = IntConv2d(channels, channels, kernel_size, groups=channels)
        bound = offset_bound * SUBPEL
        self.offset = IntConv2d(channels, groups * k * 2, 1, lo=-bound, hi=bound, fixed_scale=1 / SUBPEL)
        self.mask = IntConv2d(channels, groups * k, 1, lo=-MASK_UNIT, hi=MASK_UNIT, fixed_scale=1 / MASK_UNIT)
        # the integer sampler's accumulator counts units of v / (SUBPEL**2 * MASK_UNIT)
        self.sampled = IntRequant(channels, integer_unit=1.0 / (SUBPEL * SUBPEL * MASK_UNIT))
        self.output_proj = IntConv2d(channels, channels, 1, lo=-SIGNED_MAX, hi=SIGNED_MAX)
        for head in (self.offset, self.mask):
            nn.init.zeros_(head.weight)
        nn.init.zeros_(self.offset.bias)
        nn.init.constant_(self.mask.bias, 1.0 / k)

    def forward(self, x: QTensor) -> QTensor:
        v = self.input_proj(x)
        f = self.dw(x)
        off, m = self.offset(f), self.mask(f)
        if self.sampled.requant.frozen and not self.training:
            acc = deform_sample_int(v.values.long(), off.values.long(), m.values.long(), self.groups,
                                    self.kernel_size, 1, SUBPEL)
            s = QTensor(acc.double(), v.scale / (SUBPEL * SUBPEL * MASK_UNIT))
        else:
            s = QTensor(deform_sample(v.values, off.values / SUBPEL, m.values / MASK_UNIT, self.groups,
                                      self.kernel_size), v.scale)
        y = self.output_proj(self.sampled(s), tied_scale=x.scale[0])
        return QTensor((x.values + y.values).clamp(0, RELU_MAX), x.scale)


class IntConvBlock(nn.Module):
    """Ablation stand-in for :class:`IntDynamicKernelBlock`: x + conv1x1(relu(conv3x3(x))), in integers."""

    def __init__(self, channels: int, groups: int, kernel_size: int = 3):
        super().__init__()
        self.conv = IntConv2d(channels, channels, kernel_size, groups=groups)
        self.output_proj = IntConv2d(channels, channels, 1, lo=-SIGNED_MAX, hi=SIGNED_MAX)

    def forward(self, x: QTensor) -> QTensor:
        y = self.output_proj(self.conv(x), tied_scale=x.scale[0])
        return QTensor((x.values + y.values).clamp(0, RELU_MAX), x.scale)
