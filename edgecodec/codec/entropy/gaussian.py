"""Gaussian conditional with a fixed, log-spaced scale table.

The integer parameter networks emit a scale *index* into this table and a
fixed-point mean directly, so the decoder never evaluates a float function
to choose a CDF. Training uses the same table through a straight-through
rounded index.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .tables import pack_cdfs, pmf_to_cdf

SCALE_MIN, SCALE_MAX, NUM_SCALES = 0.11, 256.0, 64
TAIL_MASS = 1e-9
TAIL_Z = 6.109410204869  # standard-normal quantile of 1 - TAIL_MASS / 2
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


def table_scales() -> np.ndarray:
    """The NUM_SCALES log-spaced scales, float64."""
    return SCALE_MIN * np.exp(np.arange(NUM_SCALES) * _LOG_STEP)


def scale_tables_np() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer CDF tables of the discretised Gaussians (numpy int32: cdfs, cdf_lengths, offsets).

    Probabilities come from upper tails (erfc), which stay accurate far from the mean.
    """
    cdfs, offsets = [], []
    for s in table_scales():
        r = int(math.ceil(s * TAIL_Z))
        upper = np.array([0.5 * math.erfc((k - 0.5) / (s * math.sqrt(2))) for k in range(r + 2)])
        half = upper[:-1] - upper[1:]  # P(k) for k = 0..r
        half[0] = 1.0 - 2.0 * upper[1]
        pmf = np.concatenate([half[:0:-1], half])
        cdfs.append(pmf_to_cdf(pmf, 2.0 * upper[-1]))
        offsets.append(-r)
    table, lengths = pack_cdfs(cdfs)
    return table, lengths, np.array(offsets, dtype=np.int32)


def scale_tables() -> tuple[Tensor, Tensor, Tensor]:
    """:func:`scale_tables_np` as torch tensors (model buffers)."""
    return tuple(torch.from_numpy(a) for a in scale_tables_np())


def uniform_noise_like(x: Tensor) -> Tensor:
    """Additive quantisation proxy U(-1/2, 1/2)."""
    return torch.empty_like(x).uniform_(-0.5, 0.5)

