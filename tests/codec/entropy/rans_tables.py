"""Random rANS tables for the coder's tests (numpy only: the sanitizer child imports it too)."""
from __future__ import annotations

import numpy as np

TOTAL = 1 << 16  # rans.PRECISION
Tables = tuple[np.ndarray, np.ndarray, np.ndarray]


def random_tables(rng: np.random.Generator, n_tables: int, max_symbols: int, offset_span: int = 50) -> Tables:
    """Random CDFs (2..max_symbols symbols, frequencies >= 1, some equal to 1) and offsets."""
    rows, offsets = [], []
    for _ in range(n_tables):
        n_sym = int(rng.integers(2, max_symbols + 1))
        if rng.random() < 0.3:  # extreme: one symbol takes almost everything
            freqs = np.ones(n_sym, np.int64)
            freqs[rng.integers(n_sym)] += TOTAL - n_sym
            cuts = np.cumsum(freqs)[:-1]
        else:
            cuts = np.sort(rng.choice(np.arange(1, TOTAL), n_sym - 1, replace=False))
        rows.append(np.concatenate([[0], cuts, [TOTAL]]))
        offsets.append(int(rng.integers(-offset_span, offset_span + 1)))
    width = max(len(r) for r in rows) + int(rng.integers(0, 3))
    cdfs = np.zeros((n_tables, width), np.int32)
    for t, r in enumerate(rows):
        cdfs[t, : len(r)] = r
    lengths = np.array([len(r) for r in rows], np.int32)
    return cdfs, lengths, np.array(offsets, np.int32)
