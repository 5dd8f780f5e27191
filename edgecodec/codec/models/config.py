"""Named model configurations (the registry) and the quality -> lambda mapping."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class CodecConfig:
    """Everything that defines a model's architecture; checkpoints carry it."""

    name: str
    width: int                       # channels of the transforms (N)
    latent: int                      # latent channels (M)
    depths: tuple[int, int, int]     # dynamic-kernel blocks at 1/4, 1/8, 1/16
    groups: int                      # dynamic-kernel groups (G)
    hyper_width: int                 # hyper-analysis / hyper-synthesis channels
    hyper_latent: int                # channels of z
    hyper_features: int              # channels of the integer hyper features fed to every slice
    slices: tuple[int, ...]          # uneven channel groups of y (sum = latent)
    spatial: tuple[bool, ...]        # checkerboard spatial context per slice (asymmetric)
    context_width: int = 64          # channel-context width
    aggregate_width: int = 96        # parameter-aggregation width
    block: str = "dynamic"           # "dynamic" or "conv" (the ablation)
    quality_levels: int = 6          # gain vectors interpolated by the quality knob
    lambda_min: float = 0.0015       # rate-distortion trade-off at quality 0
    lambda_max: float = 0.13         # ... and at quality 100
    extra: dict = field(default_factory=dict)  # {"int8": [parts]} after quantisation-aware training

    def __post_init__(self):
        if sum(self.slices) != self.latent:
            raise ValueError(f"slices {self.slices} must sum to latent={self.latent}")
        if len(self.spatial) != len(self.slices):
            raise ValueError("spatial needs one flag per slice")
        if self.block not in ("dynamic", "conv"):
            raise ValueError(f"unknown block type {self.block!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CodecConfig":
        d = dict(d)
        for key in ("depths", "slices", "spatial"):
            d[key] = tuple(d[key])
        return cls(**d)


def quality_to_level(quality: float, levels: int) -> float:
    """Quality 0..100 (higher is better) -> continuous gain level 0..levels-1."""
    if not 0.0 <= quality <= 100.0 or math.isnan(quality):
        raise ValueError(f"quality must be in [0, 100], got {quality}")
    return quality / 100.0 * (levels - 1)


REGISTRY: dict[str, CodecConfig] = {}


def register(config: CodecConfig) -> CodecConfig:
    REGISTRY[config.name] = config
    return config


def get_config(name: str) -> CodecConfig:
    if name not in REGISTRY:
        raise KeyError(f"unknown model configuration {name!r} (known: {', '.join(sorted(REGISTRY))})")
    return REGISTRY[name]


register(CodecConfig(
    name="dkic-small", width=96, latent=192, depths=(1, 1, 1), groups=4,
    hyper_width=96, hyper_latent=64, hyper_features=96,
    slices=(16, 16, 32, 64, 64), spatial=(True, True, True, False, False),
))
register(CodecConfig(
    name="dkic-small-conv", width=96, latent=192, depths=(1, 1, 1), groups=4,
    hyper_width=96, hyper_latent=64, hyper_features=96,
    slices=(16, 16, 32, 64, 64), spatial=(True, True, True, False, False), block="conv",
))
register(CodecConfig(  # for tests and golden files: seconds to build, milliseconds to run
    name="dkic-tiny", width=32, latent=64, depths=(1, 1, 0), groups=2,
    hyper_width=32, hyper_latent=16, hyper_features=32,
    slices=(8, 8, 16, 32), spatial=(True, True, True, False),
    context_width=32, aggregate_width=32,
))
register(CodecConfig(
    name="dkic-full", width=192, latent=320, depths=(2, 2, 2), groups=8,
    hyper_width=192, hyper_latent=192, hyper_features=192,
    slices=(16, 16, 32, 64, 192), spatial=(True, True, True, True, False),
    context_width=128, aggregate_width=192,
))
