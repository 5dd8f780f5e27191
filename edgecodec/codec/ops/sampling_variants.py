"""Export-safe variants of the sampling operator, chosen explicitly per model.

Every variant computes :func:`deform_sample` in PyTorch; they differ only in
the ONNX they export to:

    grid_sample   standard GridSample nodes (plugin-free; TensorRT runs it natively)
    deform_conv   one ONNX DeformConv (opset 19) with group = C, all-ones depthwise
                  weights and offset_group = G, points row-major, offsets (dy, dx):
                  ONNX Runtime's CPU kernel, about 2x faster than the GridSample form
                  (docs/RESULTS.md section 2)
    plugin        the custom op edgecodec::ModulatedDeformSampling, executed by our
                  TensorRT plugin (export/plugins/modulated_deform_sampling)

Do not give TensorRT ``deform_conv``: it maps DeformConv onto its DCNv2 plugin
(im2col + one GEMM per group), slow for group = C.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .deform_sampling import deform_sample

VARIANTS = ("grid_sample", "deform_conv", "plugin")
PLUGIN_DOMAIN = "edgecodec"
PLUGIN_OP = "ModulatedDeformSampling"


def _swap_xy(offset: Tensor, groups: int, k: int) -> Tensor:
    n, _, h, w = offset.shape
    return offset.reshape(n, groups * k, 2, h, w).flip(2).reshape(n, groups * k * 2, h, w)


class _DeformConv(torch.autograd.Function):
    """Forward in PyTorch; exports as ONNX DeformConv (offsets already (dy, dx), scaled)."""

    @staticmethod
    def forward(ctx, value, offset_yx, mask, groups: int, kernel_size: int, dilation: int, channels: int):
        k = kernel_size * kernel_size
        return deform_sample(value, _swap_xy(offset_yx, groups, k), mask, groups, kernel_size, dilation)

    @staticmethod
    def symbolic(g, value, offset_yx, mask, groups, kernel_size, dilation, channels):
        weight = g.op("Constant", value_t=torch.ones(channels, 1, kernel_size, kernel_size))
        bias = g.op("Constant", value_t=torch.zeros(channels))
        pad = (kernel_size - 1) // 2 * dilation
        return g.op("DeformConv", value, weight, offset_yx, bias, mask,
                    group_i=channels, offset_group_i=groups, kernel_shape_i=[kernel_size] * 2,
                    dilations_i=[dilation] * 2, pads_i=[pad] * 4, strides_i=[1, 1])


class _Plugin(torch.autograd.Function):
    """Forward in PyTorch; exports as the custom op of our TensorRT plugin."""

    @staticmethod
    def forward(ctx, value, offset, mask, groups: int, kernel_size: int, dilation: int, offset_scale: float):
        return deform_sample(value, offset, mask, groups, kernel_size, dilation, offset_scale)

    @staticmethod
    def symbolic(g, value, offset, mask, groups, kernel_size, dilation, offset_scale):
        out = g.op(f"{PLUGIN_DOMAIN}::{PLUGIN_OP}", value, offset, mask, groups_i=groups,
                   kernel_size_i=kernel_size, dilation_i=dilation, offset_scale_f=offset_scale,
                   plugin_version_s="1", plugin_namespace_s=PLUGIN_DOMAIN)
        out.setType(value.type())
        return out


def sample(variant: str, value: Tensor, offset: Tensor, mask: Tensor, groups: int, kernel_size: int = 3,
           dilation: int = 1, offset_scale: float = 1.0) -> Tensor:
    """Modulated deformable sampling through the named export variant."""
    if variant == "grid_sample":
        return deform_sample(value, offset, mask, groups, kernel_size, dilation, offset_scale)
    if variant == "deform_conv":
        k = kernel_size * kernel_size
        return _DeformConv.apply(value, _swap_xy(offset * offset_scale, groups, k), mask, groups, kernel_size,
                                 dilation, int(value.shape[1]))
    if variant == "plugin":
        return _Plugin.apply(value, offset, mask, groups, kernel_size, dilation, float(offset_scale))
    raise ValueError(f"unknown sampling variant {variant!r} (choose from {', '.join(VARIANTS)})")


def set_sampling_variant(model: nn.Module, variant: str) -> nn.Module:
    """Select the variant in every dynamic kernel of ``model`` (in place); returns the model."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown sampling variant {variant!r} (choose from {', '.join(VARIANTS)})")
    for module in model.modules():
        if hasattr(module, "sampling_variant"):
            module.sampling_variant = variant
    return model
