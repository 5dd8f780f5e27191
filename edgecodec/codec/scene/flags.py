"""Skip flags: groups of binary flags, each group coded at its own signalled probability.

A frame's flags come in groups whose sizes the decoder knows (or learns from the
groups before): z-block flags, then the y-position flags inside coded z blocks.
For each group the encoder picks the probability ``k / STEPS`` (k = 1..STEPS-1)
that codes it in the fewest bits and sends k first, so a frame where everything
skips costs a few bits and one where nothing does costs little more.

    stream: k_1 ... k_G (uniform over STEPS-1 values), then group 1's flags, ..., group G's
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..entropy import rans
from ..entropy.tables import pack_cdfs, pmf_to_cdf

STEPS = 64
_ESCAPE = 1e-9
_UNIFORM = STEPS - 1  # table row of the uniform distribution of k - 1


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [pmf_to_cdf([1 - k / STEPS, k / STEPS], _ESCAPE) for k in range(1, STEPS)]
    rows.append(pmf_to_cdf(np.full(STEPS - 1, 1.0), _ESCAPE))
    table, lengths = pack_cdfs(rows)
    return table, lengths, np.zeros(len(rows), dtype=np.int32)


TABLES = _tables()


def best_step(flags: np.ndarray) -> int:
    """The k in 1..STEPS-1 whose probability k/STEPS codes these flags in the fewest bits."""
    ones = int(np.count_nonzero(flags))
    zeros = flags.size - ones
    costs = [-(ones * math.log2(k / STEPS) + zeros * math.log2(1 - k / STEPS)) for k in range(1, STEPS)]
    return 1 + int(np.argmin(costs))


def encode(groups: list[np.ndarray]) -> bytes:
    """Boolean arrays (any shape, raster order) -> one rANS stream."""
    steps = [best_step(g.reshape(-1)) for g in groups]
    symbols = [np.array([k - 1 for k in steps], dtype=np.int32)]
    indexes = [np.full(len(steps), _UNIFORM, dtype=np.int32)]
    for g, k in zip(groups, steps):
        symbols.append(g.reshape(-1).astype(np.int32))
        indexes.append(np.full(g.size, k - 1, dtype=np.int32))
    return rans.encode(np.concatenate(symbols), np.concatenate(indexes), *TABLES)


def decode(data: bytes, sizes: list[int | Callable[[list[np.ndarray]], int]]) -> list[np.ndarray]:
    """The groups of :func:`encode`; ``sizes[g]`` is group g's length, or a function of the groups
    decoded before it. Raises ValueError when the stream is corrupt or not consumed exactly."""
    dec = rans.Decoder(data)
    steps = dec.decode(np.full(len(sizes), _UNIFORM, dtype=np.int32), *TABLES)
    if np.any(steps < 0) or np.any(steps >= STEPS - 1):
        raise ValueError("corrupt skip flags: bad probability index")
    groups: list[np.ndarray] = []
    for size, step in zip(sizes, steps):
        n = size(groups) if callable(size) else size
        values = dec.decode(np.full(n, step, dtype=np.int32), *TABLES)
        if np.any((values != 0) & (values != 1)):
            raise ValueError("corrupt skip flags: a flag that is neither 0 nor 1")
        groups.append(values.astype(bool))
    dec.finish()
    return groups
