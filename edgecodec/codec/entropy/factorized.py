"""Factorized (non-parametric) prior for the hyper-latent z (Balle et al. 2018).

Each channel has its own learned cumulative density c(z) (a small monotone MLP).
The training rate is -log2 [c(z + 1/2) - c(z - 1/2)] on noisy z; ``tables()``
turns the learned density into integer CDF tables, one per channel, that
travel in the state dict.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .tables import pack_cdfs, pmf_to_cdf

TAIL_MASS = 1e-9
MAX_RANGE = 512


class FactorizedPrior(nn.Module):
    """Per-channel learned density with integer CDF tables."""

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = float(np.log(np.expm1(1 / scale / dims[i + 1])))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def _logits_cdf(self, x: Tensor) -> Tensor:
        """x (C, 1, n) -> logits of the cumulative density (C, 1, n)."""
        for i, (m, b) in enumerate(zip(self.matrices, self.biases)):
            x = torch.matmul(F.softplus(m), x) + b
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def likelihood(self, z: Tensor) -> Tensor:
        """Probability of the unit interval around each value of z (N, C, H, W)."""
        n, c, h, w = z.shape
        v = z.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower, upper = self._logits_cdf(v - 0.5), self._logits_cdf(v + 0.5)
        sign = -torch.sign(lower + upper).detach()
        p = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        return p.clamp_min(1e-9).view(c, n, h, w).permute(1, 0, 2, 3)

    @torch.no_grad()
    def tables(self) -> tuple[Tensor, Tensor, Tensor]:
        """Integer CDF tables: (cdfs (C, W), cdf_lengths (C,), offsets (C,)), int32."""
        grid = torch.arange(-MAX_RANGE, MAX_RANGE + 2, dtype=torch.float64) - 0.5
        c = self.matrices[0].shape[0]
        logits = self._double()._logits_cdf(grid.view(1, 1, -1).expand(c, 1, -1)).squeeze(1)
        cdf = torch.sigmoid(logits).numpy()  # (C, 2*MAX_RANGE + 2): c(k - 1/2) for k = -MAX_RANGE..MAX_RANGE+1
        cdfs, offsets = [], []
        for row in cdf:
            lo = int(np.searchsorted(row, TAIL_MASS / 2, side="right")) - 1
            hi = int(np.searchsorted(row, 1 - TAIL_MASS / 2, side="left"))
            lo, hi = max(lo, 0), min(max(hi, lo + 1), len(row) - 1)
            pmf = np.diff(row[lo:hi + 1])
            cdfs.append(pmf_to_cdf(pmf, float(max(1.0 - pmf.sum(), 0.0))))
            offsets.append(lo - MAX_RANGE)
        table, lengths = pack_cdfs(cdfs)
        return torch.from_numpy(table), torch.from_numpy(lengths), torch.tensor(offsets, dtype=torch.int32)

    def _double(self) -> "FactorizedPrior":
        clone = FactorizedPrior.__new__(FactorizedPrior)
        nn.Module.__init__(clone)
        clone.matrices = nn.ParameterList([nn.Parameter(p.detach().double()) for p in self.matrices])
        clone.biases = nn.ParameterList([nn.Parameter(p.detach().double()) for p in self.biases])
        clone.factors = nn.ParameterList([nn.Parameter(p.detach().double()) for p in self.factors])
        return clone
