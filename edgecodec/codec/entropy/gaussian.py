"""Gaussian conditional with a fixed, log-spaced scale table.

The integer parameter networks emit a scale *index* into this table and a
fixed-point mean directly, so the decoder never evaluates a float function
to choose a CDF. Training uses the same table through a straight-through
rounded index.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .tables import pack_cdfs, pmf_to_cdf

SCALE_MIN, SCALE_MAX, NUM_SCALES = 0.11, 256.0, 64
TAIL_MASS = 1e-9
LIKELIHOOD_BOUND = 1e-9
_LOG_STEP = math.log(SCALE_MAX / SCALE_MIN) / (NUM_SCALES - 1)


def scale_from_index(index: Tensor) -> Tensor:
    """Scale for a (possibly fractional, straight-through) table index."""
    return SCALE_MIN * torch.exp(index * _LOG_STEP)


def _std_normal_cdf(x: Tensor) -> Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2.0))


def likelihood(residual: Tensor, scale: Tensor) -> Tensor:
    """P(bin of width 1 around ``residual``) under N(0, scale), bounded below."""
    r = residual.abs()
    p = _std_normal_cdf((0.5 - r) / scale) - _std_normal_cdf((-0.5 - r) / scale)
    return p.clamp_min(LIKELIHOOD_BOUND)


def scale_tables() -> tuple[Tensor, Tensor, Tensor]:
    """Integer CDF tables of the discretised Gaussians: (cdfs, cdf_lengths, offsets), int32."""
    cdfs, offsets = [], []
    tail_z = 6.109410204869  # standard-normal quantile of 1 - TAIL_MASS / 2
    for i in range(NUM_SCALES):
        s = SCALE_MIN * math.exp(i * _LOG_STEP)
        r = int(math.ceil(s * tail_z))
        k = torch.arange(-r, r + 1, dtype=torch.float64)
        pmf = (_std_normal_cdf((k + 0.5) / s) - _std_normal_cdf((k - 0.5) / s)).numpy()
        cdfs.append(pmf_to_cdf(pmf, float(max(1.0 - pmf.sum(), 0.0))))
        offsets.append(-r)
    table, lengths = pack_cdfs(cdfs)
    return torch.from_numpy(table), torch.from_numpy(lengths), torch.tensor(offsets, dtype=torch.int32)


def uniform_noise_like(x: Tensor) -> Tensor:
    """Additive quantisation proxy U(-1/2, 1/2)."""
    return torch.empty_like(x).uniform_(-0.5, 0.5)

