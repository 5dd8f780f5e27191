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


def remap_levels(table: Tensor, old_range: tuple[float, float], new_range: tuple[float, float]) -> Tensor:
    """A (levels, channels) log-gain table moved to another lambda range.

    Levels sit at geometrically spaced lambdas, so a table is a curve sampled
    evenly in log(lambda). Each new level takes that curve's value at its own
    lambda: interpolated between the old levels, extended along the end
    segments' slopes beyond them. A fine-tune then starts near the right
    quantisation step at every level instead of relearning it from the old one.
    """
    levels = table.shape[0]
    old_lo, old_hi = (math.log(v) for v in old_range)
    new_lo, new_hi = (math.log(v) for v in new_range)
    log_lambda = torch.linspace(new_lo, new_hi, levels, dtype=torch.float64)
    position = (log_lambda - old_lo) / (old_hi - old_lo) * (levels - 1)  # in old levels, may lie outside
    lo = position.floor().long().clamp(0, levels - 2)
    frac = (position - lo).to(table.dtype).unsqueeze(1)
    return table[lo] * (1 - frac) + table[lo + 1] * frac
