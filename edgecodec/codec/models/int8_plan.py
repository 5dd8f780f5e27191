"""Which convolutions of the float transforms run in int8 after quantisation-aware training.

    analysis        int8 (every convolution and sampling input)
    hyper-analysis  float: its input is the gained latent, whose range changes about 9x across
                    the quality range; one per-tensor int8 step cannot serve both ends
                    (measured: +5% rate at low quality)
    synthesis       int8, except its first upsampling convolution (reads the latent-domain
                    residual stream) and its last (writes the pixels): the two layers measured
                    most sensitive, 0.01-0.02 dB each, every other layer under 0.005 dB

The plan travels in the configuration (``int8``: the parts; ``int8_keep_float``: the float
convolutions inside them), so a checkpoint rebuilds exactly the model it was trained as.
"""
from __future__ import annotations

from dataclasses import replace

from ..layers.fake_quant import is_fake_quant_state
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
    return replace(config, int8=quantised, int8_keep_float=tuple(keep))


def without_int8(config: CodecConfig, state: dict) -> tuple[CodecConfig, dict]:
    """The float model with the same weights as an int8 (QAT) one: plan and fake quantisation removed."""
    state = {k: v for k, v in state.items() if not is_fake_quant_state(k)}
    return replace(config, int8=(), int8_keep_float=()), state
