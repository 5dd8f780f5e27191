"""Multiply-accumulate counts of the encoder and decoder (kMAC per pixel).

Counted with forward hooks: convolutions (float and integer) and the
deformable sampling (4 bilinear MACs + 1 modulation MAC per channel and
point). Normalisations, activations and the rANS coder are not counted.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers.dynamic_kernel import DynamicKernel
from .layers.int_dynamic_kernel import IntDynamicKernelBlock
from .layers.quant import IntConv2d
from .models.dkic import DKIC


def _conv_macs(module: nn.Module, out: torch.Tensor) -> int:
    w = module.weight
    return out[0].numel() * w.shape[1] * w.shape[2] * w.shape[3]


class MacCounter:
    """Context manager that sums MACs of the hooked modules of a model."""

    def __init__(self, model: nn.Module):
        self.model, self.macs, self.handles = model, 0, []

    def _hook(self, module, inputs, out):
        if isinstance(module, nn.Conv2d):
            self.macs += _conv_macs(module, out)
        elif isinstance(module, IntConv2d):
            self.macs += _conv_macs(module, out.values)
        elif isinstance(module, DynamicKernel):
            self.macs += out[0].numel() * module.kernel_size ** 2 * 5
        elif isinstance(module, IntDynamicKernelBlock):
            self.macs += out.values[0].numel() * module.kernel_size ** 2 * 5

    def __enter__(self) -> "MacCounter":
        for m in self.model.modules():
            if isinstance(m, (nn.Conv2d, IntConv2d, DynamicKernel, IntDynamicKernelBlock)):
                self.handles.append(m.register_forward_hook(self._hook))
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()


@torch.no_grad()
def kmac_per_pixel(model: DKIC, height: int = 512, width: int = 768) -> dict[str, float]:
    """Encoder and decoder kMAC per pixel on a random image of the given (padded) size."""
    from .facade import latent_shape

    x = torch.rand(1, 3, height, width)
    with MacCounter(model) as enc:
        z, y, _ = model.compress(x, 2.5)
    with MacCounter(model) as dec:
        y_hat = model.decode_latent(z, y, latent_shape(height, width))
        model.reconstruct(y_hat, 2.5)
    pixels = height * width
    return {"encoder_kmac_per_pixel": enc.macs / pixels / 1e3, "decoder_kmac_per_pixel": dec.macs / pixels / 1e3}
