"""Integer CDF tables for the rANS coder.

Quantisation uses only IEEE-exact float64 operations (+, *, /, floor, an
exactly rounded sum) and integer fix-ups, so a given pmf yields the same table
on every machine: the bitstream depends on it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["pmf_to_cdf", "pack_cdfs", "symbol_bits"]


def pmf_to_cdf(pmf: npt.ArrayLike, tail_mass: float, precision: int = 16) -> npt.NDArray[np.int32]:
    """Quantise ``pmf`` (L-1 in-range symbols) plus ``tail_mass`` (escape) into an int32 CDF.

    Returns L+1 values ``0 = c[0] < ... < c[L] = 1 << precision``: every frequency
    is >= 1. Frequencies start as rounded ideal values and the sum is then fixed
    greedily by the cheapest first-order change in cross-entropy. Negative
    probabilities (float noise) count as 0.
    """
    probs = np.append(np.asarray(pmf, dtype=np.float64).reshape(-1), np.float64(tail_mass))
    if not 1 <= precision <= 30:
        raise ValueError(f"precision must be in [1, 30], got {precision}")
    total = 1 << precision
    if probs.size < 2 or probs.size > total:
        raise ValueError(f"need 1 to {total - 1} in-range symbols, got {probs.size - 1}")
    if not np.all(np.isfinite(probs)):
        raise ValueError("pmf and tail_mass must be finite")
    probs = np.maximum(probs, 0.0)
    peak = float(probs.max())
    if not peak > 0.0:
        raise ValueError("pmf and tail_mass sum to zero")
    probs = probs / peak  # in [0, 1]: the exact sum below cannot overflow
    ideal = (probs / math.fsum(probs.tolist())) * total
    freqs = np.maximum(np.floor(ideal + 0.5), 1.0).astype(np.int64)
    _fix_sum(freqs, ideal, total)
    cdf = np.zeros(probs.size + 1, dtype=np.int64)
    np.cumsum(freqs, out=cdf[1:])
    return cdf.astype(np.int32)


def _fix_sum(freqs: npt.NDArray[np.int64], ideal: npt.NDArray[np.float64], total: int) -> None:
    """Move units one per symbol per round until ``freqs`` sums to ``total`` (in place).

    The cross-entropy change of one unit is about ideal/(f - 1/2) when taking
    and ideal/(f + 1/2) when giving; stable sorting keeps ties deterministic.
    """
    diff = total - int(freqs.sum())
    while diff < 0:
        movable = np.flatnonzero(freqs > 1)
        cost = ideal[movable] / (freqs[movable] - 0.5)
        take = movable[np.argsort(cost, kind="stable")[: min(-diff, movable.size)]]
        freqs[take] -= 1
        diff += take.size
    while diff > 0:
        gain = ideal / (freqs + 0.5)
        give = np.argsort(-gain, kind="stable")[: min(diff, freqs.size)]
        freqs[give] += 1
        diff -= give.size


def pack_cdfs(cdfs: Sequence[npt.ArrayLike]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Stack CDFs of different lengths into ``(cdfs (T, W), cdf_lengths (T,))``, int32.

    Rows are padded with their last value; W is the longest length.
    """
    rows = [np.asarray(c, dtype=np.int64).reshape(-1) for c in cdfs]
    if any(r.size == 0 for r in rows):
        raise ValueError("empty CDF")
    lengths = np.array([r.size for r in rows], dtype=np.int32)
    table = np.empty((len(rows), int(lengths.max(initial=0))), dtype=np.int32)
    for t, r in enumerate(rows):
        table[t, : r.size] = r
        table[t, r.size :] = r[-1]
    return table, lengths


def symbol_bits(symbols: npt.NDArray[np.int32], indexes: npt.NDArray[np.int32], cdfs: npt.NDArray[np.int32],
                cdf_lengths: npt.NDArray[np.int32], offsets: npt.NDArray[np.int32]) -> npt.NDArray[np.float64]:
    """Bits the rANS coder spends on each symbol with these tables (escapes: the escape
    symbol plus 4 bits per bypass nibble of the zig-zag magnitude, about)."""
    s = symbols.astype(np.int64) - offsets[indexes]
    last = cdf_lengths[indexes].astype(np.int64) - 2  # the escape symbol
    inside = (s >= 0) & (s < last)
    k = np.where(inside, s, last)
    freq = cdfs[indexes, k + 1].astype(np.int64) - cdfs[indexes, k]
    bits = 16.0 - np.log2(np.maximum(freq, 1))
    outside = np.abs(s - np.clip(s, 0, last - 1))
    return bits + np.where(inside, 0.0, 4.0 * np.ceil(np.log2(2 * outside + 2) / 4) + 4.0)
