"""DCNv3-style dynamic kernel and the residual block built around it.

    x ──► input_proj (1x1) ─────────────────────► v ─┐
    │                                                ├─► sample(v, p + dp, m) ─► output_proj (1x1)
    └──► dw kxk ─► LayerNorm ─► GELU ─┬─► offsets dp (G*K*2, bounded)
                                      └─► mask m (G*K, softmax over K)

The offset and mask heads start at zero (offsets 0, weights 1/K). All sampling
points of a group share the projections (DCNv3's weight sharing).
Stabilisers from the seed: bounded offsets (``offset_bound`` pixels, a tanh),
softmax-normalised modulation and zero padding at the border.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops.sampling_variants import sample


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of an NCHW tensor (export-friendly)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        x = (x - mu) * torch.rsqrt(var + self.eps)
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class DynamicKernel(nn.Module):
    """Content-adaptive deformable aggregation (DCNv3 core with its projections)."""

    def __init__(self, channels: int, groups: int, kernel_size: int = 3, dilation: int = 1,
                 offset_bound: float = 4.0):
        super().__init__()
        if channels % groups:
            raise ValueError(f"channels ({channels}) must be divisible by groups ({groups})")
        self.groups, self.kernel_size, self.dilation = groups, kernel_size, dilation
        self.offset_bound = offset_bound
        self.sampling_variant = "grid_sample"  # how the operator exports (ops/sampling_variants.py)
        self.sampling_quant = nn.ModuleList([nn.Identity() for _ in range(3)])  # int8 Q/DQ after QAT
        k = kernel_size * kernel_size
        self.input_proj = nn.Conv2d(channels, channels, 1)
        self.dw = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        self.norm = LayerNorm2d(channels)
        self.offset = nn.Conv2d(channels, groups * k * 2, 1)
        self.mask = nn.Conv2d(channels, groups * k, 1)
        self.output_proj = nn.Conv2d(channels, channels, 1)
        for head in (self.offset, self.mask):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def sampling_params(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Offsets (pixels) and softmax-normalised modulation for every position."""
        n, _, h, w = x.shape
        k = self.kernel_size * self.kernel_size
        f = F.gelu(self.norm(self.dw(x)))
        offset = self.offset_bound * torch.tanh(self.offset(f) / self.offset_bound)
        mask = self.mask(f).view(n, self.groups, k, h, w).softmax(2).view(n, self.groups * k, h, w)
        return offset, mask

    def forward(self, x: Tensor) -> Tensor:
        offset, mask = self.sampling_params(x)
        qv, qo, qm = self.sampling_quant
        v = sample(self.sampling_variant, qv(self.input_proj(x)), qo(offset), qm(mask), self.groups,
                   self.kernel_size, self.dilation)
        return self.output_proj(v)


class FeedForward(nn.Module):
    """Pointwise MLP: 1x1 -> GELU -> 1x1."""

    def __init__(self, channels: int, ratio: float = 2.0):
        super().__init__()
        hidden = int(channels * ratio)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class DynamicKernelBlock(nn.Module):
    """Pre-norm residual block: x + DK(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, channels: int, groups: int, kernel_size: int = 3, ffn_ratio: float = 2.0):
        super().__init__()
        self.norm1 = LayerNorm2d(channels)
        self.mixer = DynamicKernel(channels, groups, kernel_size)
        self.norm2 = LayerNorm2d(channels)
        self.ffn = FeedForward(channels, ffn_ratio)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class ConvMixer(nn.Module):
    """Ablation stand-in for :class:`DynamicKernel`: a fixed 3x3 window.

    1x1 -> depthwise 3x3 -> GELU -> 3x3 with ``groups`` groups -> 1x1, about the
    parameter count of the dynamic kernel with the same channels and groups.
    """

    def __init__(self, channels: int, groups: int, kernel_size: int = 3):
        super().__init__()
        self.input_proj = nn.Conv2d(channels, channels, 1)
        self.dw = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        self.conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=groups)
        self.output_proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.output_proj(self.conv(F.gelu(self.dw(self.input_proj(x)))))


class ConvBlock(DynamicKernelBlock):
    """The same residual block with :class:`ConvMixer` in place of the dynamic kernel."""

    def __init__(self, channels: int, groups: int, kernel_size: int = 3, ffn_ratio: float = 2.0):
        super().__init__(channels, groups, kernel_size, ffn_ratio)
        self.mixer = ConvMixer(channels, groups, kernel_size)
