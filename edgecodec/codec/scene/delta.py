"""Delta frames: the latent coded against a reference latent, with hierarchical skip.

    skip map (H/16 x W/16) ─► z-block flags (64x64 px: all 16 positions skip) + position flags
                                                    inside the other blocks ─► flag stream
    z^ = reference z^ in skipped blocks, round(z) elsewhere ─► z stream (coded blocks only)
    hyper features of z^ ─► intra context model, slice by slice; at each position
        skipped: y^ = reference y^ (no bits)
        coded:   (index, mean) from the intra context, corrected by the conditional
                 network from the reference ─► y stream

Everything here is integer, so encoder and decoder build the same latent on any device.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..entropy import rans
from ..entropy.tables import symbol_bits
from ..models.conditional import ConditionalEntropy
from ..models.context import MEAN_UNIT, dequantize
from ..models.dkic import DKIC, Latent, int32_array, numpy_tables
from . import flags

BLOCK = 4  # y positions per z position, each way


class DeltaCoding(NamedTuple):
    """An encoded delta latent, with the rate of each part (for the encoder's decisions)."""

    streams: tuple[bytes, bytes, bytes]  # flags, z, y
    latent: Latent
    y_bits: Tensor  # (H/16, W/16) bits spent on y at each position
    z_bits: Tensor  # (H/64, W/64) bits spent on z in each block
    intra_y_bits: float  # the coded positions' y under the intra parameters alone (about)


def block_skip(skip: Tensor) -> Tensor:
    """(H/16, W/16) position skip map -> (H/64, W/64) map of blocks whose 16 positions all skip."""
    h, w = skip.shape
    return skip.view(h // BLOCK, BLOCK, w // BLOCK, BLOCK).all(3).all(1)


def _expand(blocks: Tensor) -> Tensor:
    return blocks.repeat_interleave(BLOCK, 0).repeat_interleave(BLOCK, 1)


def encode(model: DKIC, conditional: ConditionalEntropy | None, y: Tensor, z: Tensor, ref: Latent,
           skip: Tensor) -> DeltaCoding:
    """Code the analysed latent (y gained, z unrounded) against ``ref`` with the skip map."""
    zskip = block_skip(skip)
    inner = skip[~_expand(zskip)]
    flag_bytes = flags.encode([zskip.cpu().numpy(), inner.cpu().numpy()])
    z_hat = torch.where(zskip, ref.z_hat, torch.round(z).double())
    coded_z = (~zskip).expand_as(z_hat)
    z_sym, z_idx = z_hat[coded_z], model.z_indexes(z_hat.shape)[coded_z]
    z_tables = numpy_tables(model.z_tables())
    z_bytes = rans.encode(int32_array(z_sym), int32_array(z_idx), *z_tables)
    z_bits = torch.zeros_like(z_hat)
    z_bits[coded_z] = torch.from_numpy(symbol_bits(int32_array(z_sym), int32_array(z_idx), *z_tables))
    symbols, indexes, where, intra = [], [], [], []

    def code(i, sel, index, mean, target, intra_params):
        s = torch.round(target - mean / MEAN_UNIT)
        symbols.append(s[sel])
        indexes.append(index[sel])
        where.append(sel.nonzero())
        intra.append((torch.round(target - intra_params[1] / MEAN_UNIT)[sel], intra_params[0][sel]))
        return s

    y_hat = _run(model, conditional, z_hat, ref, skip, code, y)
    sym, idx = int32_array(torch.cat(symbols)), int32_array(torch.cat(indexes))
    y_bytes = rans.encode(sym, idx, *numpy_tables(model.y_tables()))
    y_bits = torch.zeros(skip.shape, dtype=torch.float64)
    pos = torch.cat(where)
    y_bits.index_put_((pos[:, 2], pos[:, 3]), torch.from_numpy(symbol_bits(sym, idx, *numpy_tables(model.y_tables()))),
                      accumulate=True)
    intra_sym, intra_idx = (int32_array(torch.cat(part)) for part in zip(*intra))
    intra_bits = float(symbol_bits(intra_sym, intra_idx, *numpy_tables(model.y_tables())).sum())
    return DeltaCoding((flag_bytes, z_bytes, y_bytes), Latent(z_hat, y_hat), y_bits, z_bits.sum((0, 1)), intra_bits)


def decode(model: DKIC, conditional: ConditionalEntropy | None, streams: tuple[bytes, ...], ref: Latent) -> Latent:
    """The latent of a delta frame; raises ValueError when a stream is corrupt."""
    flag_bytes, z_bytes, y_bytes = streams
    zh, zw = ref.z_hat.shape[2:]
    groups = flags.decode(flag_bytes, [zh * zw, lambda g: int(np.count_nonzero(~g[0])) * BLOCK * BLOCK])
    zskip = torch.from_numpy(groups[0].reshape(zh, zw)).to(ref.z_hat.device)
    skip = _expand(zskip).clone()
    skip[~_expand(zskip)] = torch.from_numpy(groups[1]).to(skip.device)
    coded_z = (~zskip).expand_as(ref.z_hat)
    zdec = rans.Decoder(z_bytes)
    z_hat = ref.z_hat.clone()
    z_idx = model.z_indexes(z_hat.shape)[coded_z]
    z_hat[coded_z] = torch.from_numpy(zdec.decode(int32_array(z_idx), *numpy_tables(model.z_tables()))).double().to(z_hat.device)
    zdec.finish()
    ydec = rans.Decoder(y_bytes)
    tables = numpy_tables(model.y_tables())

    def code(i, sel, index, mean, target, intra_params):
        s = torch.zeros_like(index)
        s[sel] = torch.from_numpy(ydec.decode(int32_array(index[sel]), *tables)).double().to(s.device)
        return s

    y_hat = _run(model, conditional, z_hat, ref, skip, code, None)
    ydec.finish()
    return Latent(z_hat, y_hat)


def _run(model: DKIC, conditional: ConditionalEntropy | None, z_hat: Tensor, ref: Latent, skip: Tensor,
         code, y: Tensor | None) -> Tensor:
    """The coding order shared by encoder and decoder; ``code(i, sel, index, mean, target, intra)`` returns
    the symbols at the selected positions (``intra``: the parameters before the conditional network).
    Returns y^ (gained, float64)."""
    ref_units = ref.y_hat * MEAN_UNIT
    slices = model.context.slices
    done: list[Tensor] = [torch.zeros_like(ref_units[:, :ch]) for ch in slices]

    def resolve(i, mask, index, mean):
        lo, hi = sum(slices[:i]), sum(slices[:i + 1])
        ref_i = ref_units[:, lo:hi]
        intra = (index, mean)
        if conditional is not None:
            prev = torch.cat(done[:i], 1) if i else None
            index, mean = conditional(i, index, mean, ref_i, prev, ref_units[:, :lo] if i else None)
        mask = torch.ones_like(skip) if mask is None else mask
        s = code(i, (mask & ~skip).expand_as(index), index, mean, None if y is None else y[:, lo:hi], intra)
        values = torch.where(skip, ref_i, dequantize(s, mean))
        done[i] = torch.where(mask, values, done[i])
        return values

    return model.context.code(model.hyper_synthesis(z_hat), resolve) / MEAN_UNIT
