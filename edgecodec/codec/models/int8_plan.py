"""Which convolutions of the float transforms run in int8 after quantisation-aware training.

    analysis        int8 (every convolution and sampling input)
    hyper-analysis  float: its input is the gained latent, whose range changes about 9x across
                    the quality range; one per-tensor int8 step cannot serve both ends
                    (measured: +5% rate at low quality)
    synthesis       int8, except its first upsampling convolution (reads the latent-domain
                    residual stream) and its last (writes the pixels): the two layers measured
                    most sensitive, 0.01-0.02 dB each, every other layer under 0.005 dB

The plan travels in the configuration (``extra["int8"]``: the parts; ``extra["int8_keep_float"]``:
the float convolutions inside them), so a checkpoint rebuilds exactly the model it was trained as.
"""
from __future__ import annotations

from .config import CodecConfig

INT8_PARTS = {"encoder": ("analysis",), "all": ("analysis", "synthesis")}


def synthesis_float_convs(config: CodecConfig) -> list[str]:
    """Names of the synthesis convolutions kept float (indices into ``SynthesisTransform``)."""
    d0, d1, d2 = config.depths
    first_up, last_up = d2, d2 + d1 + d0 + 4  # [B x d2] up [B x d1] up [B x d0] up GELU up
    return [f"synthesis.{first_up}.0", f"synthesis.{last_up}.0"]


def int8_config(config: CodecConfig, parts: str) -> CodecConfig:
    """``config`` with the int8 plan of ``parts`` ('encoder' or 'all')."""
    if parts not in INT8_PARTS:
        raise ValueError(f"unknown int8 parts {parts!r} (known: {', '.join(INT8_PARTS)})")
    quantised = INT8_PARTS[parts]
    keep = synthesis_float_convs(config) if "synthesis" in quantised else []
    extra = dict(config.extra, int8=list(quantised), int8_keep_float=keep)
    return CodecConfig.from_dict(dict(config.to_dict(), extra=extra))
