"""Int8 fake quantisation of the float transforms (quantisation-aware training).

Per-channel symmetric int8 weights and per-tensor symmetric int8 activations
(the inputs of every convolution and of the sampling operator: value, offsets
and mask). Both use PyTorch's fake-quantise operators, which export to ONNX
as explicit QuantizeLinear/DequantizeLinear pairs: the only int8 path
TensorRT 11 keeps, and one ONNX Runtime runs with int8 kernels.

    x ─► Q/DQ (per tensor) ─► conv ◄─ Q/DQ (per channel) ◄─ w

Activation steps are learned (LSQ, Esser et al., ICLR 2020): each starts at the
first training batch's absolute maximum (nothing clipped) and is then trained
with the network, trading the clipping of rare outliers against resolution for
the bulk of the values. Eval mode uses the step as a constant (the checkpoint
and the exported graph carry it).
"""
from __future__ import annotations

import math
from collections.abc import Collection

import torch
import torch.nn.functional as F
from torch import Tensor, nn

QMAX = 127
MIN_SCALE = 1e-8


class FakeQuantAct(nn.Module):
    """Per-tensor symmetric int8 fake quantisation with a learned step."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            with torch.no_grad():
                if self.scale <= 0:  # first batch: no clipping
                    self.scale.copy_(x.abs().amax().clamp_min(MIN_SCALE) / QMAX)
                self.scale.clamp_(min=MIN_SCALE)
        if self.scale <= 0:
            return x
        if self.training and self.scale.requires_grad:
            zero = x.new_zeros(1)
            grad_factor = 1.0 / math.sqrt(x.numel() * QMAX)
            return torch._fake_quantize_learnable_per_tensor_affine(
                x, self.scale.view(1), zero, -QMAX - 1, QMAX, grad_factor)
        zero = torch.zeros((), dtype=torch.int32, device=x.device)
        return torch.fake_quantize_per_tensor_affine(x, self.scale.detach().float(), zero, -QMAX - 1, QMAX)


def weight_scale(w: Tensor) -> Tensor:
    """Per-output-channel symmetric int8 scale: max |w| / 127."""
    return (w.detach().abs().amax(dim=tuple(range(1, w.dim()))).clamp_min(1e-8) / QMAX).float()


def fake_quant_weight(w: Tensor, scale: Tensor | None = None) -> Tensor:
    """Per-output-channel symmetric int8 fake quantisation of a weight tensor."""
    scale = weight_scale(w) if scale is None else scale
    zero = torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)
    return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -QMAX - 1, QMAX)  # ONNX range; |q| <= 127


class QConv2d(nn.Conv2d):
    """Conv2d with int8 fake-quantised input and weights (float bias, as TensorRT expects)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.act = FakeQuantAct()
        self.register_buffer("w_scale", weight_scale(self.weight))

    def train(self, mode: bool = True) -> "QConv2d":
        """Entering eval mode fixes the weight scales (a constant in the exported graph)."""
        if not mode:
            self.w_scale = weight_scale(self.weight)
        return super().train(mode)

    @classmethod
    def from_float(cls, conv: nn.Conv2d) -> "QConv2d":
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                conv.dilation, conv.groups, conv.bias is not None)
        q.load_state_dict(conv.state_dict(), strict=False)
        q.w_scale = weight_scale(q.weight)
        return q

    def forward(self, x: Tensor) -> Tensor:
        scale = None if self.training else self.w_scale
        return F.conv2d(self.act(x), fake_quant_weight(self.weight, scale), self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


def is_fake_quant_state(key: str) -> bool:
    """Whether a state-dict entry belongs to the fake quantisation (activation steps, weight scales,
    sampling-input steps) rather than to the float model."""
    return key.endswith((".act.scale", ".w_scale")) or ".sampling_quant." in key


def quantize_transforms(module: nn.Module, keep_float: Collection[str] = (), prefix: str = "") -> nn.Module:
    """Swap every Conv2d below ``module`` for a QConv2d, except those named in ``keep_float``
    (``prefix`` + their path), and quantise the sampling inputs (in place)."""
    for name, child in list(module.named_children()):
        path = prefix + name
        if isinstance(child, nn.Conv2d) and not isinstance(child, QConv2d):
            if path not in keep_float:
                setattr(module, name, QConv2d.from_float(child))
        else:
            quantize_transforms(child, keep_float, path + ".")
    if hasattr(module, "sampling_quant"):
        module.sampling_quant = nn.ModuleList([FakeQuantAct() for _ in range(3)])
    return module
