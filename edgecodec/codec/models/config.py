"""Named model configurations (the registry) and the quality -> lambda mapping."""
from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass

INT8_TRANSFORMS = ("analysis", "synthesis")  # the float transforms quantisation-aware training can make int8


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
    lambda_min: float = 0.00015      # rate-distortion trade-off at quality 0 (about 0.05 bpp on Kodak)
    lambda_max: float = 0.35         # ... and at quality 100 (about 1.7 bpp)
    int8: tuple[str, ...] = ()       # parts run in int8 after quantisation-aware training (int8_plan.py)
    int8_keep_float: tuple[str, ...] = ()  # convolutions inside those parts kept float

    def __post_init__(self):
        """Refuse an architecture that cannot be built, with a one-line ValueError."""
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("config name must be a non-empty string")
        for key in ("width", "latent", "groups", "hyper_width", "hyper_latent", "hyper_features",
                    "context_width", "aggregate_width"):
            _check_int(key, getattr(self, key), 1)
        _check_int("quality_levels", self.quality_levels, 2)
        if len(self.depths) != 3:
            raise ValueError(f"depths needs 3 values, got {len(self.depths)}")
        for depth in self.depths:
            _check_int("depths", depth, 0)
        if not self.slices:
            raise ValueError("slices must not be empty")
        for size in self.slices:
            _check_int("slices", size, 1)
        if sum(self.slices) != self.latent:
            raise ValueError(f"slices {self.slices} must sum to latent={self.latent}")
        if len(self.spatial) != len(self.slices) or not all(isinstance(f, bool) for f in self.spatial):
            raise ValueError("spatial needs one true/false flag per slice")
        if self.block not in ("dynamic", "conv"):
            raise ValueError(f"unknown block type {self.block!r}")
        # channels of the grouped blocks: the hyper transforms' always, the others' where used
        d0, d1, d2 = self.depths
        for key, used in (("hyper_width", True), ("width", d0 or d1), ("latent", d2)):
            if used and getattr(self, key) % self.groups:
                raise ValueError(f"{key}={getattr(self, key)} must be divisible by groups={self.groups}")
        lo, hi = self.lambda_min, self.lambda_max
        if not (is_finite_number(lo) and is_finite_number(hi) and 0 < lo < hi):
            raise ValueError(f"need finite 0 < lambda_min < lambda_max, got {lo!r} and {hi!r}")
        if not isinstance(self.int8, tuple) or any(part not in INT8_TRANSFORMS for part in self.int8):
            raise ValueError(f"int8 parts must be a list of {'/'.join(INT8_TRANSFORMS)}, got {self.int8!r}")
        if not isinstance(self.int8_keep_float, tuple) or not all(isinstance(n, str) for n in self.int8_keep_float):
            raise ValueError(f"int8_keep_float must be a list of layer names, got {self.int8_keep_float!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CodecConfig":
        """Config from ``to_dict()`` output (a checkpoint's); ValueError when it is not a valid one."""
        if not isinstance(d, dict):
            raise ValueError(f"a model configuration must be a dict, got {type(d).__name__}")
        d = _typed_int8_plan(d) if "extra" in d else d
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown configuration field(s): {', '.join(sorted(map(str, unknown)))}")
        missing = [k for k, f in cls.__dataclass_fields__.items()
                   if k not in d and f.default is MISSING and f.default_factory is MISSING]
        if missing:
            raise ValueError(f"configuration field(s) missing: {', '.join(missing)}")
        d = dict(d)
        for key in ("depths", "slices", "spatial", "int8", "int8_keep_float"):
            if key not in d:
                continue
            if not isinstance(d[key], (list, tuple)):
                raise ValueError(f"configuration field {key} must be a list, got {d[key]!r}")
            d[key] = tuple(d[key])
        return cls(**d)


def _typed_int8_plan(d: dict) -> dict:
    """A configuration as checkpoints stored it before the typed int8 plan (``extra``: {"int8",
    "int8_keep_float"}), in today's form."""
    d = dict(d)
    extra = d.pop("extra")
    if not isinstance(extra, dict):
        raise ValueError(f"extra must be a dict, got {type(extra).__name__}")
    unknown = sorted(map(str, set(extra) - {"int8", "int8_keep_float"}))
    if unknown:
        raise ValueError(f"unknown configuration field(s): {', '.join(f'extra.{k}' for k in unknown)}")
    return d | extra


def _check_int(key: str, value: object, minimum: int) -> None:
    """ValueError unless ``value`` is an int (not a bool) >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {value!r}")


def is_finite_number(value: object) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
