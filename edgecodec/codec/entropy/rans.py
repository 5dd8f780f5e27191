"""rANS coding of int32 values with 16-bit integer CDF tables.

Thin typed wrapper over the C extension ``_rans`` (its header comment documents
the stream byte layout). Arrays must be C-contiguous ``np.int32``; nothing is
converted silently. Tables: ``cdfs`` (T, W), ``cdf_lengths`` (T,), ``offsets``
(T,); row t holds a CDF ``0 = c[0] < ... < c[L] = 1 << PRECISION`` of L >= 2
symbols, the last one being the escape symbol for out-of-range values.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from . import _rans

PRECISION = 16

Int32Array = npt.NDArray[np.int32]

__all__ = ["PRECISION", "Decoder", "encode", "validate_tables"]


def validate_tables(cdfs: Int32Array, cdf_lengths: Int32Array, offsets: Int32Array) -> None:
    """Raise ValueError (one line) if the tables are malformed; see the module docstring."""
    try:
        _rans.validate(cdfs, cdf_lengths, offsets)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def encode(
    symbols: Int32Array,
    indexes: Int32Array,
    cdfs: Int32Array,
    cdf_lengths: Int32Array,
    offsets: Int32Array,
) -> bytes:
    """Encode ``symbols[i]`` with table ``indexes[i]``; symbols are given in decode order."""
    return _rans.encode(symbols, indexes, cdfs, cdf_lengths, offsets)


class Decoder:
    """Stateful decoder of one stream; decode() may be called on consecutive chunks."""

    def __init__(self, data: bytes) -> None:
        self._dec = _rans.Decoder(data)

    def decode(
        self, indexes: Int32Array, cdfs: Int32Array, cdf_lengths: Int32Array, offsets: Int32Array
    ) -> Int32Array:
        """Decode ``len(indexes)`` values, value i with table ``indexes[i]``."""
        return np.frombuffer(self._dec.decode(indexes, cdfs, cdf_lengths, offsets), dtype=np.int32)

    def finish(self) -> None:
        """Raise ValueError unless the whole stream was consumed exactly."""
        self._dec.finish()

    @property
    def position(self) -> int:
        """Bytes of the stream consumed so far."""
        return self._dec.position
