"""Integer layers for the entropy-parameter path (Balle et al., ICLR 2019).

Every tensor on this path is a :class:`QTensor`: integer values plus the real
value of one unit per channel. Two execution modes compute the same function:

    training / validation           frozen integer mode (after ``freeze()``)
    ----------------------          ----------------------------------------
    fake quantisation in float32,   float64 convolution of integer tensors
    straight-through rounding,      (exact: every partial sum < 2**53), then
    observers set output scales     int64 requantisation (acc * mult) >> shift

Weights are int8 per output channel, with the input scale folded in, so a
layer accepts channels of different scales (hyper features next to latents).
The integer buffers (``w_int``, ``b_int``, ``mult``, ``shift``) are computed
once by ``freeze()`` and travel in the state dict, so encoder and decoder use
identical integers whatever device they run on.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RELU_MAX = 4095
SIGNED_MAX = 32767
WEIGHT_MAX = 127
_MULT_BITS = 15


class QTensor(NamedTuple):
    """Integer-valued tensor (N, C, H, W) and the real value of one unit per channel (C,)."""

    values: Tensor
    scale: Tensor


def qcat(parts: list[QTensor]) -> QTensor:
    """Concatenate along channels, keeping each channel's scale."""
    return QTensor(torch.cat([p.values for p in parts], 1), torch.cat([p.scale for p in parts]))


def round_ste(x: Tensor) -> Tensor:
    """Round with a straight-through gradient."""
    return x + (torch.round(x) - x).detach()


def requant_params(ratio: Tensor) -> tuple[Tensor, Tensor]:
    """Integer (mult, shift) with mult / 2**shift ~= ratio, mult in [2**15, 2**16]."""
    ratio = ratio.double()
    if not torch.all(ratio > 0):
        raise ValueError("requantisation ratio must be positive")
    shift = (_MULT_BITS - torch.floor(torch.log2(ratio))).clamp(1, 62).long()
    mult = torch.round(ratio * torch.pow(2.0, shift.double())).long()
    return mult, shift


def requantize(acc: Tensor, mult: Tensor, shift: Tensor, lo: int, hi: int) -> Tensor:
    """round(acc * mult / 2**shift) in int64 (half rounds up), clamped to [lo, hi]."""
    view = (1, -1, 1, 1)
    m, s = mult.view(view), shift.view(view)
    out = (acc * m + (torch.ones_like(s) << (s - 1))) >> s
    return out.clamp(lo, hi)


class Requantizer(nn.Module):
    """Output stage shared by integer layers: scale choice, rounding, clamping."""

    def __init__(self, channels: int, lo: int, hi: int, fixed_scale: float | None = None, momentum: float = 0.01):
        super().__init__()
        self.lo, self.hi, self.momentum = lo, hi, momentum
        self.fixed = fixed_scale is not None
        self.register_buffer("out_scale", torch.tensor(float(fixed_scale or 0.0)))
        self.register_buffer("mult", torch.zeros(channels, dtype=torch.long))
        self.register_buffer("shift", torch.ones(channels, dtype=torch.long))
        self.register_buffer("frozen", torch.tensor(False))

    def observe(self, real: Tensor) -> None:
        """Track the output range (EMA of the batch maximum) while training."""
        if self.fixed or not self.training:
            return
        peak = real.detach().abs().amax() if self.lo < 0 else real.detach().amax()
        target = peak.clamp_min(1e-6) / self.hi
        if self.out_scale <= 0:
            self.out_scale.copy_(target)
        else:
            self.out_scale.mul_(1 - self.momentum).add_(self.momentum * target)

    def fake(self, real: Tensor, tied_scale: Tensor | None = None) -> QTensor:
        """Training path: integer-valued float output (at ``tied_scale`` if given)."""
        if tied_scale is not None:
            if self.training:
                self.out_scale.copy_(tied_scale.detach())
        else:
            self.observe(real)
        scale = self.out_scale.clone()  # a snapshot: later calls update the buffer in place
        values = torch.clamp(round_ste(real / scale), self.lo, self.hi)
        return QTensor(values, scale.expand(real.shape[1]))

    def freeze(self, acc_scale: Tensor) -> None:
        """Fix the integer multipliers for accumulators of real scale ``acc_scale`` (per channel)."""
        if self.out_scale <= 0:
            raise RuntimeError("cannot freeze an integer layer that has never seen data")
        mult, shift = requant_params(acc_scale.double() / self.out_scale.double())
        self.mult.copy_(mult)
        self.shift.copy_(shift)
        self.frozen.fill_(True)

    def integer(self, acc: Tensor) -> Tensor:
        """Frozen path: int64 accumulator -> float64 integer-valued output."""
        return requantize(acc, self.mult, self.shift, self.lo, self.hi).double()

    def out(self, values: Tensor) -> QTensor:
        c = values.shape[1]
        return QTensor(values, self.out_scale.to(values.dtype).expand(c))


def _fold_input_scale(weight: Tensor, in_scale: Tensor, groups: int) -> Tensor:
    """Multiply each weight by the scale of the input channel it reads."""
    cout, cin_g = weight.shape[:2]
    out_per_group = cout // groups
    idx = (torch.arange(cout, device=weight.device) // out_per_group).view(-1, 1) * cin_g
    idx = idx + torch.arange(cin_g, device=weight.device).view(1, -1)
    return weight * in_scale.to(weight.dtype)[idx].view(cout, cin_g, 1, 1)


class IntConv2d(nn.Module):
    """Convolution with int8 weights, int32-range bias and integer requantised output."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 1, stride: int = 1, groups: int = 1,
                 lo: int = 0, hi: int = RELU_MAX, fixed_scale: float | None = None):
        super().__init__()
        self.stride, self.groups, self.padding = stride, groups, kernel_size // 2
        self.weight = nn.Parameter(torch.empty(cout, cin // groups, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(cout))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.register_buffer("in_scale", torch.ones(cin))
        self.register_buffer("w_int", torch.zeros_like(self.weight, dtype=torch.int8))
        self.register_buffer("b_int", torch.zeros(cout, dtype=torch.long))
        self.requant = Requantizer(cout, lo, hi, fixed_scale)

    def _int_weights(self, in_scale: Tensor, ste: bool) -> tuple[Tensor, Tensor, Tensor]:
        w = _fold_input_scale(self.weight, in_scale, self.groups)
        w_scale = w.abs().amax(dim=(1, 2, 3)).clamp_min(1e-12) / WEIGHT_MAX
        rnd = round_ste if ste else torch.round
        return rnd(w / w_scale.view(-1, 1, 1, 1)), rnd(self.bias / w_scale), w_scale

    def forward(self, x: QTensor, tied_scale: Tensor | None = None) -> QTensor:
        """Integer convolution; ``tied_scale`` forces the output scale (for residual sums)."""
        if self.requant.frozen and not self.training:
            acc = F.conv2d(x.values.double(), self.w_int.double(), None, self.stride, self.padding, 1, self.groups)
            acc = acc.round().long() + self.b_int.view(1, -1, 1, 1)
            return self.requant.out(self.requant.integer(acc))
        if self.training:
            self.in_scale.copy_(x.scale.detach())
        w_i, b_i, w_scale = self._int_weights(x.scale, ste=True)
        acc = F.conv2d(x.values, w_i, b_i, self.stride, self.padding, 1, self.groups)
        return self.requant.fake(acc * w_scale.view(1, -1, 1, 1), tied_scale)

    @torch.no_grad()
    def freeze(self) -> None:
        """Compute the integer weights, bias and multipliers from the float parameters."""
        w_i, b_i, w_scale = self._int_weights(self.in_scale.double(), ste=False)
        self.w_int.copy_(w_i.to(torch.int8))
        self.b_int.copy_(b_i.long())
        self.requant.freeze(w_scale)


class IntRequant(nn.Module):
    """Requantise an integer tensor to a new (observed or fixed) scale.

    ``integer_unit``: in frozen integer mode the input counts units of ``in_scale * integer_unit``
    (e.g. an integer sampler whose accumulator carries extra fixed-point fraction bits).
    """

    def __init__(self, channels: int, lo: int = -SIGNED_MAX, hi: int = SIGNED_MAX, fixed_scale: float | None = None,
                 integer_unit: float = 1.0):
        super().__init__()
        self.integer_unit = integer_unit
        self.register_buffer("in_scale", torch.ones(channels))
        self.requant = Requantizer(channels, lo, hi, fixed_scale)

    def forward(self, x: QTensor) -> QTensor:
        if self.requant.frozen and not self.training:
            return self.requant.out(self.requant.integer(x.values.round().long()))
        if self.training:
            self.in_scale.copy_(x.scale.detach())
        return self.requant.fake(x.values * x.scale.view(1, -1, 1, 1))

    @torch.no_grad()
    def freeze(self) -> None:
        self.requant.freeze(self.in_scale.double() * self.integer_unit)
