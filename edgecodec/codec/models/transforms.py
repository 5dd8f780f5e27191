"""Float analysis, synthesis and hyper-analysis transforms.

    analysis   x(3) ─conv5/2─GELU─ N ─conv3/2─[B x d0]─ N ─conv3/2─[B x d1]─ N ─conv3/2─[B x d2]─► y (M, 1/16)
    synthesis  y ─[B x d2]─up─[B x d1]─up─[B x d0]─up(N/2)─GELU─up─► x̂ (3)
    hyper-analysis  y ─conv3─GELU─conv3/2─GELU─[B]─conv3/2─► z (1/64)

B is a dynamic-kernel block (or the conv ablation block); "up" is a 3x3
conv followed by pixel shuffle (sub-pixel upsampling, exports as DepthToSpace).
"""
from __future__ import annotations

from torch import nn

from ..layers.dynamic_kernel import ConvBlock, DynamicKernelBlock
from .config import CodecConfig


def _blocks(config: CodecConfig, channels: int, depth: int) -> list[nn.Module]:
    cls = DynamicKernelBlock if config.block == "dynamic" else ConvBlock
    return [cls(channels, config.groups) for _ in range(depth)]


def _down(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=2, padding=k // 2)


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout * 4, 3, padding=1), nn.PixelShuffle(2))


class AnalysisTransform(nn.Sequential):
    """Image (N, 3, H, W) in [0, 1] -> latent y (N, M, H/16, W/16)."""

    def __init__(self, config: CodecConfig):
        n, m, (d0, d1, d2) = config.width, config.latent, config.depths
        super().__init__(
            _down(3, n, 5), nn.GELU(),
            _down(n, n), *_blocks(config, n, d0),
            _down(n, n), *_blocks(config, n, d1),
            _down(n, m), *_blocks(config, m, d2),
        )


class SynthesisTransform(nn.Sequential):
    """Latent (N, M, H/16, W/16) -> image (N, 3, H, W)."""

    def __init__(self, config: CodecConfig):
        n, m, (d0, d1, d2) = config.width, config.latent, config.depths
        super().__init__(
            *_blocks(config, m, d2), _up(m, n),
            *_blocks(config, n, d1), _up(n, n),
            *_blocks(config, n, d0), _up(n, n // 2), nn.GELU(),
            _up(n // 2, 3),
        )


class HyperAnalysis(nn.Sequential):
    """Latent y (M, 1/16) -> hyper-latent z (1/64)."""

    def __init__(self, config: CodecConfig):
        m, h = config.latent, config.hyper_width
        super().__init__(
            nn.Conv2d(m, h, 3, padding=1), nn.GELU(),
            _down(h, h), nn.GELU(), *_blocks(config, h, 1),
            _down(h, config.hyper_latent),
        )
