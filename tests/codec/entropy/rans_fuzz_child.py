"""Child process of test_rans_sanitized.py: drives a sanitizer build of ``_rans`` with valid
and hostile input. Usage: python rans_fuzz_child.py MODULE_FILE SEED ROUNDS

Imports only numpy and the module under test (no torch: its allocator and ASan's do not mix).
Exits 0 when every valid round trip is exact and every hostile input raised a Python
exception or decoded to something; a memory or undefined-behaviour error aborts the process.
"""
import importlib.util
import sys

import numpy as np
from rans_tables import TOTAL, random_tables

I32 = np.iinfo(np.int32)


def load(path: str):
    spec = importlib.util.spec_from_file_location("edgecodec.codec.entropy._rans", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def values(rng, n: int) -> np.ndarray:
    v = rng.integers(-40, 40, n)
    wild = rng.random(n) < 0.05  # escapes, up to the int32 extremes
    v[wild] = rng.choice([I32.min, I32.max, -(10 ** 6), 10 ** 6, 0], int(wild.sum()))
    return v.astype(np.int32)


def try_decode(rans, data: bytes, idx, cdfs, lengths, offsets) -> None:
    try:
        dec = rans.Decoder(data)
        cut = int(len(idx) * 0.5)
        dec.decode(idx[:cut], cdfs, lengths, offsets)
        dec.decode(idx[cut:], cdfs, lengths, offsets)
        dec.finish()
    except (ValueError, TypeError, RuntimeError, OverflowError):
        pass


def main() -> None:
    rans = load(sys.argv[1])
    rng = np.random.default_rng(int(sys.argv[2]))
    for _ in range(int(sys.argv[3])):
        cdfs, lengths, offsets = random_tables(rng, int(rng.integers(1, 6)), 40, 30)
        n = int(rng.integers(0, 3000))
        idx = rng.integers(0, len(lengths), n).astype(np.int32)
        sym = values(rng, n)
        data = rans.encode(sym, idx, cdfs, lengths, offsets)
        dec = rans.Decoder(data)
        out = np.frombuffer(dec.decode(idx, cdfs, lengths, offsets), np.int32)
        dec.finish()
        assert np.array_equal(out, sym), "round trip"
        raw = bytearray(data)
        for _ in range(4):  # corrupted, truncated, extended and random streams
            flipped = bytearray(raw)
            if flipped:
                flipped[int(rng.integers(len(flipped)))] ^= 1 << int(rng.integers(8))
            for stream in (bytes(flipped), bytes(raw[:int(rng.integers(len(raw) + 1))]),
                           bytes(raw) + rng.bytes(int(rng.integers(1, 9))), rng.bytes(int(rng.integers(0, 64)))):
                try_decode(rans, stream, idx, cdfs, lengths, offsets)
        bad = [cdfs.copy(), lengths.copy(), offsets.copy()]  # hostile tables and indexes
        which = int(rng.integers(4))
        if which == 0:
            bad[0][0, int(rng.integers(bad[0].shape[1]))] = int(rng.integers(-5, TOTAL + 5))
        elif which == 1:
            bad[1][0] = int(rng.choice([0, 1, 2, bad[0].shape[1] + 1, I32.max, I32.min]))
        elif which == 2 and n:
            idx = idx.copy()
            idx[int(rng.integers(n))] = int(rng.choice([-1, len(lengths), I32.max]))
        else:
            bad[0] = np.ascontiguousarray(bad[0][:, ::-1])
        try:
            rans.validate(*bad)
        except (ValueError, TypeError):
            pass
        try:
            rans.encode(sym, idx, *bad)
        except (ValueError, TypeError, OverflowError):
            pass
        try_decode(rans, data, idx, *bad)
    print("ok")


if __name__ == "__main__":
    main()
