"""Throughput and compression of the rANS coder on realistic data (pure computation).

64 discretised Gaussians with scales log-spaced from 0.11 to 256 (the
Gaussian-conditional tables), values drawn from them, a random table per value.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .gaussian import scale_tables_np, table_scales
from .rans import PRECISION, Decoder, encode

def _best_time(fn: Callable[[], object], repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def coder_throughput(n_symbols: int = 2_000_000, seed: int = 0, repeats: int = 5) -> dict[str, float]:
    """Encode/decode speed (M values/s, best of ``repeats``, one thread) and size vs ideal."""
    rng = np.random.default_rng(seed)
    scales = table_scales()
    cdfs, lengths, offsets = scale_tables_np()
    indexes = rng.integers(0, len(scales), n_symbols).astype(np.int32)
    symbols = np.rint(rng.standard_normal(n_symbols) * scales[indexes]).astype(np.int32)

    data = encode(symbols, indexes, cdfs, lengths, offsets)

    def decode_all() -> npt.NDArray[np.int32]:
        dec = Decoder(data)
        out = dec.decode(indexes, cdfs, lengths, offsets)
        dec.finish()
        return out

    if not np.array_equal(decode_all(), symbols):
        raise RuntimeError("rANS round trip failed")
    t_enc = _best_time(lambda: encode(symbols, indexes, cdfs, lengths, offsets), repeats)
    t_dec = _best_time(decode_all, repeats)
    ideal = ideal_bits(symbols, indexes, cdfs, lengths, offsets)
    n = max(n_symbols, 1)
    return {
        "n_symbols": float(n_symbols),
        "bytes": float(len(data)),
        "bits_per_symbol": 8.0 * len(data) / n,
        "ideal_bits_per_symbol": ideal / n,
        "overhead_pct": 100.0 * (8.0 * len(data) / ideal - 1.0) if ideal > 0 else 0.0,
        "encode_msym_s": n_symbols / t_enc / 1e6,
        "decode_msym_s": n_symbols / t_dec / 1e6,
    }


def ideal_bits(
    symbols: npt.NDArray[np.int32],
    indexes: npt.NDArray[np.int32],
    cdfs: npt.NDArray[np.int32],
    lengths: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int32],
) -> float:
    """Sum of -log2 p under the quantised tables (escapes: escape symbol + 4-bit chunks)."""
    t = indexes.astype(np.int64)
    s = symbols.astype(np.int64) - offsets[t]
    esc = lengths[t].astype(np.int64) - 2
    escaped = (s < 0) | (s >= esc)
    k = np.where(escaped, esc, s)
    freq = cdfs[t, k + 1].astype(np.int64) - cdfs[t, k]
    bits = float(np.sum(PRECISION - np.log2(freq)))
    u = np.where(s < 0, -2 * s - 1, 2 * (s - esc))[escaped]
    chunks = np.ceil(np.log2(u.astype(np.float64) + 1.0) / 4.0)
    return bits + float(np.sum(4.0 * (chunks + 1.0)))
