"""Integer modulated deformable sampling, bit-exact on every device.

Same geometry as :func:`deform_sample`, but with offsets in units of
1/``subpel`` pixel and the mask in units of 1/``mask_unit``, all int64:

    acc = sum_k m_k * sum_{corners} w_corner * v_corner

with bilinear corner weights (subpel - fx)(subpel - fy) ... in units of
1/subpel**2. The result is in units of v / (subpel**2 * mask_unit). Integer
addition and multiplication are exact in any order, so CPU and GPU agree.
"""
from __future__ import annotations

import torch
from torch import Tensor


def deform_sample_int(value: Tensor, offset: Tensor, mask: Tensor, groups: int, kernel_size: int,
                      dilation: int, subpel: int) -> Tensor:
    """value (N,C,H,W), offset (N,G*K*2,H,W), mask (N,G*K,H,W), all int64 -> int64 (N,C,H,W)."""
    n, c, h, w = value.shape
    k = kernel_size * kernel_size
    g, cg = groups, c // groups
    dev = value.device
    r = (torch.arange(kernel_size, device=dev) - (kernel_size - 1) // 2) * dilation
    ky, kx = torch.meshgrid(r, r, indexing="ij")
    off = offset.view(n, g, k, 2, h, w)
    px = (torch.arange(w, device=dev).view(1, 1, 1, 1, w) + kx.reshape(1, 1, k, 1, 1)) * subpel + off[:, :, :, 0]
    py = (torch.arange(h, device=dev).view(1, 1, 1, h, 1) + ky.reshape(1, 1, k, 1, 1)) * subpel + off[:, :, :, 1]
    x0 = torch.div(px, subpel, rounding_mode="floor")
    y0 = torch.div(py, subpel, rounding_mode="floor")
    fx, fy = px - x0 * subpel, py - y0 * subpel
    flat = value.view(n, g, cg, h * w)
    acc = torch.zeros(n, g, cg, k, h, w, dtype=torch.long, device=dev)
    for dy, wy in ((0, subpel - fy), (1, fy)):
        for dx, wx in ((0, subpel - fx), (1, fx)):
            xx, yy = x0 + dx, y0 + dy
            inside = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
            idx = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).view(n, g, 1, k * h * w).expand(n, g, cg, -1)
            v = torch.gather(flat, 3, idx).view(n, g, cg, k, h, w)
            acc += v * (wx * wy * inside).unsqueeze(2)
    m = mask.view(n, g, 1, k, h, w)
    return (acc * m).sum(3).view(n, c, h, w)
