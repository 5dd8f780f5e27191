"""Integer hyper-synthesis: z^ (1/64) -> hyper features (1/16), bit-exact everywhere.

    z^ ─IntConv3─ReLU─shuffle─► (1/32) ─IntDK block─IntConv3─ReLU─shuffle─► (1/16) ─IntConv1─ReLU─► features
"""
from __future__ import annotations

import torch
from torch import nn

from ..layers.int_dynamic_kernel import IntConvBlock, IntDynamicKernelBlock
from ..layers.quant import IntConv2d, QTensor
from .config import CodecConfig


def _shuffle(q: QTensor) -> QTensor:
    v = nn.functional.pixel_shuffle(q.values, 2)
    return QTensor(v, q.scale[: v.shape[1]])


class HyperSynthesis(nn.Module):
    """Integer network from the decoded hyper-latent to the hyper features."""

    def __init__(self, config: CodecConfig):
        super().__init__()
        h = config.hyper_width
        self.up1 = IntConv2d(config.hyper_latent, 4 * h, 3)
        block = IntDynamicKernelBlock if config.block == "dynamic" else IntConvBlock
        self.block = block(h, config.groups)
        self.up2 = IntConv2d(h, 4 * h, 3)
        self.out = IntConv2d(h, config.hyper_features, 1)

    def forward(self, z_hat: torch.Tensor) -> QTensor:
        q = QTensor(z_hat, torch.ones(z_hat.shape[1], dtype=z_hat.dtype, device=z_hat.device))
        q = self.block(_shuffle(self.up1(q)))
        return self.out(_shuffle(self.up2(q)))
