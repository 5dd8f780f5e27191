"""Change which slices use spatial (checkerboard) context, keeping the trained weights.

Used to fine-tune a trained model into another asymmetric plan (``edgecodec train
--init CKPT --spatial 11100``). For a slice whose spatial context is removed, the
spatial branch's anchor-pass output (its response to an all-zero input, a
constant) is folded into the aggregation bias, so the new model starts as the old
model's anchor pass applied at every position. For a slice that gains spatial
context, the new branch enters through zero aggregation columns, so the model
starts unchanged.

    hyper ─┐                                   hyper ─┐
    chan  ─┼─► aggregate[0]   <── drop / add ──►  chan ─┼─► aggregate[0]
    space ─┘   (W_h | W_c | W_s)                        ┘   (W_h | W_c), b + W_s·space(0)
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..codec.layers.quant import RELU_MAX
from ..codec.models.config import CodecConfig
from ..codec.models.dkic import DKIC


def parse_spatial(flags: str, slices: int) -> tuple[bool, ...]:
    """``"11100"`` -> (True, True, True, False, False); one 0/1 flag per slice."""
    if len(flags) != slices or set(flags) - {"0", "1"}:
        raise ValueError(f"--spatial needs {slices} flags of 0/1 (one per slice), got {flags!r}")
    return tuple(f == "1" for f in flags)


def _anchor_pass_output(state: dict[str, Tensor], prefix: str) -> Tensor:
    """Real output of a slice's spatial branch on an all-zero input (per channel)."""
    bias = state[prefix + "bias"].double()
    scale = state[prefix + "requant.out_scale"].double()
    if scale <= 0:  # never observed: the float response
        return bias.clamp_min(0)
    return torch.clamp(torch.round(bias / scale), 0, RELU_MAX) * scale


def with_spatial_plan(state: dict[str, Tensor], config: CodecConfig,
                      spatial: tuple[bool, ...]) -> tuple[dict[str, Tensor], CodecConfig]:
    """(model state, config) of the same model with spatial context in the slices flagged."""
    if len(spatial) != len(config.slices):
        raise ValueError(f"spatial needs one flag per slice ({len(config.slices)}), got {len(spatial)}")
    new_config = CodecConfig.from_dict(dict(config.to_dict(), spatial=tuple(spatial)))
    template = DKIC(new_config).state_dict()
    out = {k: state[k] if k in state and state[k].shape == v.shape else v for k, v in template.items()}
    for i, (old, new) in enumerate(zip(config.spatial, spatial)):
        if old == new:
            continue
        agg, space = f"context.nets.{i}.aggregate.0.", f"context.nets.{i}.space."
        weight, in_scale = state[agg + "weight"], state[agg + "in_scale"]
        if old:  # drop: the spatial columns are the last ones of the aggregation input
            width = state[space + "bias"].shape[0]
            constant = _anchor_pass_output(state, space).to(weight.dtype)
            out[agg + "bias"] = state[agg + "bias"] + weight[:, -width:, 0, 0] @ constant
            out[agg + "weight"] = weight[:, :-width].clone()
            out[agg + "in_scale"] = in_scale[:-width].clone()
        else:  # add: new columns start at zero
            width = template[space + "bias"].shape[0]
            out[agg + "weight"] = torch.cat([weight, weight.new_zeros(weight.shape[0], width, 1, 1)], 1)
            out[agg + "in_scale"] = torch.cat([in_scale, in_scale.new_ones(width)])
    for key in out:
        if key.endswith("requant.frozen"):  # integers are recomputed after fine-tuning
            out[key] = torch.tensor(False)
    return out, new_config
