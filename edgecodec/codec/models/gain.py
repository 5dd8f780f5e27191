"""Gain units: one set of weights, a continuous quality knob (Cui et al., 2021).

The latent is multiplied by a per-channel gain before quantisation and by an
inverse gain before synthesis. ``quality_levels`` learned gain vectors are
interpolated geometrically between neighbouring levels.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class QualityGain(nn.Module):
    """Per-channel gain and inverse gain for a continuous level in [0, levels-1]."""

    def __init__(self, levels: int, channels: int, lambda_ratio: float):
        super().__init__()
        # start with the quantisation step shrinking like lambda ** -1/2 (flat-spectrum high-rate theory)
        spread = 0.5 * math.log(lambda_ratio)
        init = torch.linspace(-spread / 2, spread / 2, levels).view(levels, 1).expand(levels, channels)
        self.log_gain = nn.Parameter(init.clone())
        self.log_inverse = nn.Parameter(-init.clone())

    def _interp(self, table: Tensor, level: Tensor) -> Tensor:
        level = level.clamp(0, table.shape[0] - 1)
        lo = level.floor().long().clamp(max=table.shape[0] - 2)
        frac = (level - lo).unsqueeze(1)
        return torch.exp(table[lo] * (1 - frac) + table[lo + 1] * frac)[..., None, None]

    def forward(self, level: Tensor) -> tuple[Tensor, Tensor]:
        """(gain, inverse gain), each (B, M, 1, 1), for levels (B,)."""
        return self._interp(self.log_gain, level), self._interp(self.log_inverse, level)
