"""Modulated deformable sampling, the core of a DCNv3-style dynamic kernel.

For every output position p, group g and kernel point k (row-major over a
kh x kw grid centred on p), the operator reads the value map bilinearly at

    p + dilation * (k - centre) + offset_scale * offset[g, k]

(zero outside the image, pixel centres at integer coordinates) and sums the
K reads weighted by the modulation mask[g, k]. All channels of a group share
the group's offsets and mask; there are no per-point weights (the 1x1
projections around the operator carry the channel mixing).

Layouts (NCHW, like the rest of the model):
    value  (N, C, H, W), C divisible by G
    offset (N, G*K*2, H, W), ordered (g, k, (dx, dy))
    mask   (N, G*K, H, W),   ordered (g, k)
    output (N, C, H, W)

This pure-PyTorch implementation uses ``grid_sample`` so it exports to ONNX
with standard operators (GridSample, opset 16+).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def kernel_grid(kernel_size: int, dilation: int, device=None, dtype=torch.float32) -> Tensor:
    """Relative (dx, dy) of the K = kernel_size**2 points, row-major, shape (K, 2)."""
    r = torch.arange(kernel_size, device=device, dtype=dtype) - (kernel_size - 1) / 2
    dy, dx = torch.meshgrid(r * dilation, r * dilation, indexing="ij")
    return torch.stack([dx.reshape(-1), dy.reshape(-1)], dim=-1)


def deform_sample(
    value: Tensor,
    offset: Tensor,
    mask: Tensor,
    groups: int,
    kernel_size: int = 3,
    dilation: int = 1,
    offset_scale: float = 1.0,
) -> Tensor:
    """Modulated deformable sampling (see module docstring for layouts)."""
    n, c, h, w = value.shape
    k = kernel_size * kernel_size
    g = groups
    cg = c // g
    # absolute sampling positions in pixels, (N, G, H, W, K, 2)
    off = offset.view(n, g, k, 2, h, w).permute(0, 1, 4, 5, 2, 3)
    ys = torch.arange(h, device=value.device, dtype=value.dtype).view(h, 1, 1)
    xs = torch.arange(w, device=value.device, dtype=value.dtype).view(1, w, 1)
    pts = kernel_grid(kernel_size, dilation, value.device, value.dtype)  # (K, 2)
    px = xs + pts[:, 0] + offset_scale * off[..., 0]
    py = ys + pts[:, 1] + offset_scale * off[..., 1]
    # grid_sample with align_corners=False: pixel i spans [i-0.5, i+0.5]
    grid = torch.stack([(2 * px + 1) / w - 1, (2 * py + 1) / h - 1], dim=-1)
    grid = grid.reshape(n * g, h, w * k, 2)
    sampled = F.grid_sample(
        value.reshape(n * g, cg, h, w), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    ).view(n * g, cg, h, w, k)
    m = mask.view(n, g, k, h, w).permute(0, 1, 3, 4, 2).reshape(n * g, 1, h, w, k)
    return (sampled * m).sum(-1).view(n, c, h, w)
