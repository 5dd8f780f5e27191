"""The encoder's skip decision: per 16x16 block, reference or code, by rate-distortion cost.

    J_skip  = lambda * 255^2 * SSE(frame, reference image) / 3            (no bits)
    J_code  = lambda * 255^2 * SSE(frame, coded image) / 3 + bits(y at the position)
              + bits(z of its 64x64 block) / 16

with the lambda the model was trained with at this quality (the loss is lambda * 255^2 *
MSE + bpp), so a skip is chosen exactly when the trained trade-off prefers it. ``bias``
scales the distortion of skipping (1: the model's trade-off; below 1 skips more).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .delta import BLOCK

PIXELS = 16  # pixels per y position, each way


def block_sse(a: Tensor, b: Tensor, height: int, width: int) -> Tensor:
    """Sum of squared differences per 16x16 block over the image's own area (not the padding):
    (1, 3, H, W) in [0, 1] -> (H/16, W/16)."""
    diff = (a.float() - b.float()).pow(2).sum(1, keepdim=True)
    diff[..., height:, :] = 0
    diff[..., :, width:] = 0
    return F.avg_pool2d(diff, PIXELS)[0, 0].double() * PIXELS * PIXELS


def decide(lmbda: float, sse_skip: Tensor, sse_code: Tensor, y_bits: Tensor, z_bits: Tensor,
           bias: float = 1.0) -> Tensor:
    """(H/16, W/16) boolean map: where skipping costs no more than coding."""
    weight = lmbda * 255.0 ** 2 / 3.0
    z_share = z_bits.repeat_interleave(BLOCK, 0).repeat_interleave(BLOCK, 1) / (BLOCK * BLOCK)
    return weight * bias * sse_skip <= weight * sse_code + y_bits + z_share


def expand_pixels(skip: Tensor) -> Tensor:
    """(H/16, W/16) position map -> (1, 1, H, W) pixel map."""
    return skip.repeat_interleave(PIXELS, 0).repeat_interleave(PIXELS, 1)[None, None]
