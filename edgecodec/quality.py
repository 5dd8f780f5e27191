"""Image quality metrics: PSNR and MS-SSIM (Wang et al. 2003), in PyTorch."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW = 11  # Gaussian window side: MS-SSIM needs images at least this wide and high


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images (inf when identical)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def _gaussian_window(size: int = WINDOW, sigma: float = 1.5, device=None, dtype=torch.float32) -> Tensor:
    r = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _ssim_parts(x: Tensor, y: Tensor, win: Tensor) -> tuple[Tensor, Tensor]:
    c = x.shape[1]
    kx = win.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    ky = win.view(1, 1, -1, 1).expand(c, 1, -1, 1)

    def blur(t):
        return F.conv2d(F.conv2d(t, kx, groups=c), ky, groups=c)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = ((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)) * cs
    return ssim.mean((1, 2, 3)), cs.mean((1, 2, 3))


def ms_ssim_defined(height: int, width: int) -> bool:
    """Whether MS-SSIM exists for an image of this size (its first scale's window fits)."""
    return min(height, width) >= WINDOW


def ms_ssim(x: Tensor, y: Tensor) -> Tensor:
    """MS-SSIM per image of two (N, 3, H, W) batches in [0, 1].

    Uses as many of the five standard scales as the image size allows (the
    window must fit), with the weights of the used scales renormalised. Undefined
    (ValueError) for images narrower or lower than the window (``ms_ssim_defined``).
    """
    if not ms_ssim_defined(*x.shape[2:]):
        raise ValueError(f"MS-SSIM needs images of at least {WINDOW}x{WINDOW} pixels, got "
                         f"{x.shape[3]}x{x.shape[2]}")
    win = _gaussian_window(device=x.device, dtype=x.dtype)
    levels = 1
    while levels < 5 and min(x.shape[2:]) // (2 ** levels) >= win.numel():
        levels += 1
    weights = torch.tensor(_WEIGHTS[:levels], device=x.device, dtype=x.dtype)
    weights = weights / weights.sum()
    values = []
    for i in range(levels):
        ssim, cs = _ssim_parts(x, y, win)
        values.append(ssim if i == levels - 1 else cs)
        if i < levels - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    stack = torch.stack(values, 1).clamp_min(1e-6)
    return torch.prod(stack ** weights, 1)
