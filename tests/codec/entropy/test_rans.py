"""rANS coder: round trips, chunked decoding, corruption handling, table validation, format."""
from __future__ import annotations

import struct
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecodec.codec.entropy import rans
from edgecodec.codec.entropy.rans import Decoder, encode, validate_tables
from edgecodec.codec.entropy.gaussian import scale_tables_np, table_scales
from edgecodec.codec.entropy.throughput import ideal_bits
from rans_tables import Tables, random_tables

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
TOTAL = 1 << rans.PRECISION


def random_values(rng: np.random.Generator, tables: Tables, n: int, p_escape: float) -> tuple[np.ndarray, np.ndarray]:
    """Values mostly in range of their table, some escapes, some int32 extremes."""
    _, lengths, offsets = tables
    idx = rng.integers(0, len(lengths), n).astype(np.int32)
    in_range = rng.integers(0, lengths[idx] - 2).astype(np.int64) + offsets[idx]
    far = rng.integers(I32_MIN, I32_MAX, n, endpoint=True)
    near = offsets[idx].astype(np.int64) + rng.integers(-20, 20 + int(lengths.max()), n)
    extreme = rng.choice(np.array([I32_MIN, I32_MAX, I32_MIN + 1, I32_MAX - 1, 0, -1]), n)
    kind = rng.random(n)
    vals = np.where(kind < p_escape / 3, far, np.where(kind < 2 * p_escape / 3, near, in_range))
    vals = np.where(kind > 1 - p_escape / 3, extreme, vals)
    return np.clip(vals, I32_MIN, I32_MAX).astype(np.int32), idx


def roundtrip(sym: np.ndarray, idx: np.ndarray, tables: Tables) -> bytes:
    data = encode(sym, idx, *tables)
    dec = Decoder(data)
    out = dec.decode(idx, *tables)
    dec.finish()
    assert out.dtype == np.int32 and out.shape == sym.shape
    np.testing.assert_array_equal(out, sym)
    return data


# --- reference encoder in Python, written from the layout documented in _rans.c ---------------


def ref_steps(sym: np.ndarray, idx: np.ndarray, tables: Tables) -> list[tuple[int, int, int, int]]:
    """(lane, start, freq, scale_bits) coding steps in decode order."""
    cdfs, lengths, offsets = tables
    steps = []
    for i, (v, t) in enumerate(zip(sym.tolist(), idx.tolist())):
        c, n_sym, lane = cdfs[t].tolist(), int(lengths[t]) - 1, i & 1
        s = v - int(offsets[t])
        if 0 <= s < n_sym - 1:
            steps.append((lane, c[s], c[s + 1] - c[s], 16))
            continue
        steps.append((lane, c[n_sym - 1], TOTAL - c[n_sym - 1], 16))
        u = 2 * (s - (n_sym - 1)) if s >= 0 else -2 * s - 1
        nibbles = []
        while u:
            nibbles.append(u & 15)
            u >>= 4
        steps.append((lane, len(nibbles), 1, 4))
        steps += [(lane, d, 1, 4) for d in reversed(nibbles)]
    return steps


def ref_encode_steps(steps: list[tuple[int, int, int, int]]) -> bytes:
    x, words = [1 << 16, 1 << 16], []
    for lane, start, freq, bits in reversed(steps):
        xv = x[lane]
        if xv >= freq << (32 - bits):
            words.append(xv & 0xFFFF)
            xv >>= 16
        x[lane] = ((xv // freq) << bits) + xv % freq + start
    return struct.pack("<II", *x) + struct.pack(f"<{len(words)}H", *reversed(words))


# --- round trips -------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_tables=st.integers(1, 6),
    max_symbols=st.integers(2, 40),
    n=st.one_of(st.sampled_from([0, 1, 2, 3]), st.integers(0, 400)),
    p_escape=st.sampled_from([0.0, 0.05, 0.5, 1.0]),
    offset_span=st.sampled_from([0, 100, 2**31 - 64]),
)
def test_roundtrip_random(seed, n_tables, max_symbols, n, p_escape, offset_span):
    rng = np.random.default_rng(seed)
    tables = random_tables(rng, n_tables, max_symbols, offset_span)
    sym, idx = random_values(rng, tables, n, p_escape)
    data = roundtrip(sym, idx, tables)
    assert data == ref_encode_steps(ref_steps(sym, idx, tables))


@pytest.mark.parametrize("offset", [I32_MIN, -1, 0, I32_MAX - 1])
def test_roundtrip_int32_extremes(offset):
    cdfs = np.array([[0, 30000, 60000, TOTAL]], np.int32)  # 2 in-range symbols + escape
    tables = (cdfs, np.array([4], np.int32), np.array([offset], np.int32))
    vals = [I32_MIN, I32_MIN + 1, I32_MAX, I32_MAX - 1, 0, -1, 1]
    vals += [v for v in (offset - 1, offset, offset + 1, offset + 2) if I32_MIN <= v <= I32_MAX]
    sym = np.array(vals * 3, np.int32)
    roundtrip(sym, np.zeros_like(sym), tables)


def test_empty_and_single():
    tables = random_tables(np.random.default_rng(1), 3, 10)
    empty = np.zeros(0, np.int32)
    data = roundtrip(empty, empty, tables)
    assert data == bytes.fromhex("0000010000000100")
    for v in (tables[2][1], I32_MAX, I32_MIN):
        roundtrip(np.array([v], np.int32), np.array([1], np.int32), tables)


def test_chunked_decode_equals_one_shot():
    rng = np.random.default_rng(2)
    tables = random_tables(rng, 8, 60)
    sym, idx = random_values(rng, tables, 5000, 0.05)
    data = encode(sym, idx, *tables)
    for _ in range(20):
        cuts = np.sort(rng.integers(0, len(sym) + 1, int(rng.integers(1, 12))))
        dec = Decoder(data)
        parts = [dec.decode(np.ascontiguousarray(c), *tables) for c in np.split(idx, cuts)]
        dec.finish()
        np.testing.assert_array_equal(np.concatenate(parts), sym)


def test_decoder_accepts_bytes_like_and_copies():
    rng = np.random.default_rng(3)
    tables = random_tables(rng, 2, 10)
    sym, idx = random_values(rng, tables, 300, 0.1)
    buf = bytearray(encode(sym, idx, *tables))
    dec = Decoder(memoryview(buf))
    buf[:] = bytes(len(buf))  # mutating the source after construction has no effect
    np.testing.assert_array_equal(dec.decode(idx, *tables), sym)
    dec.finish()
    with pytest.raises(TypeError):
        Decoder([1, 2, 3])  # type: ignore[arg-type]


def test_threads_decode_concurrently():
    rng = np.random.default_rng(4)
    cdfs, lengths, offsets = scale_tables_np()
    idx = rng.integers(0, 16, 200_000).astype(np.int32)
    sym = np.rint(rng.standard_normal(idx.size) * 3).astype(np.int32)
    data = encode(sym, idx, cdfs, lengths, offsets)
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(Decoder(data).decode(idx, cdfs, lengths, offsets))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(np.array_equal(r, sym) for r in results)


def test_compression_close_to_ideal():
    rng = np.random.default_rng(5)
    scales = table_scales()
    cdfs, lengths, offsets = scale_tables_np()
    idx = rng.integers(0, len(scales), 300_000).astype(np.int32)
    sym = np.rint(rng.standard_normal(idx.size) * scales[idx]).astype(np.int32)
    data = encode(sym, idx, cdfs, lengths, offsets)
    ideal = ideal_bits(sym, idx, cdfs, lengths, offsets)
    assert 8 * len(data) <= ideal * 1.01 + 64
    assert 8 * len(data) >= ideal * 0.99


def test_golden_bytes():
    """Pins the bitstream format: changing these bytes breaks every stored stream."""
    cdfs = np.array([[0, 1000, 50000, 65000, TOTAL, 0], [0, 20000, 40000, 60000, 65535, TOTAL]], np.int32)
    tables = (cdfs, np.array([5, 6], np.int32), np.array([-1, 10], np.int32))
    sym = np.array([0, 10, -1, 13, 1, 12, 2, 14, -2, 9, 100, I32_MIN, I32_MAX, 11], np.int32)
    idx = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0], np.int32)
    data = roundtrip(sym, idx, tables)
    assert data.hex() == GOLDEN_HEX
    assert data == ref_encode_steps(ref_steps(sym, idx, tables))


GOLDEN_HEX = "7d8a0a003a48010079f0b0f021fef0ff111d28fef20fcaffffffff0df800ffffef021202"


# --- corrupted streams -------------------------------------------------------------------------


def _decode_all(data: bytes, idx: np.ndarray, tables: Tables, chunks: int = 1) -> np.ndarray | None:
    """Decode; returns the values, or None when a ValueError was raised (the only allowed error)."""
    try:
        dec = Decoder(data)
        out = np.concatenate([dec.decode(np.ascontiguousarray(c), *tables) for c in np.array_split(idx, chunks)])
    except ValueError as exc:
        assert "corrupt rANS stream" in str(exc)
        return None
    assert out.shape == idx.shape and out.dtype == np.int32
    try:
        dec.finish()
    except ValueError as exc:
        assert "corrupt rANS stream" in str(exc)
    return out


def test_finish_detects_truncation_and_extra_bytes():
    rng = np.random.default_rng(6)
    tables = random_tables(rng, 4, 30)
    sym, idx = random_values(rng, tables, 2000, 0.02)
    data = encode(sym, idx, *tables)
    for bad in (data[:-2], data[:-4], data + b"\0\0", data + b"\x01\x02\x03\x04"):
        dec = Decoder(bad)
        with pytest.raises(ValueError, match="corrupt rANS stream"):
            dec.decode(idx, *tables)
            dec.finish()
    for bad in (data[:-1], data + b"\0", b"", data[:7]):
        with pytest.raises(ValueError, match="corrupt rANS stream"):
            Decoder(bad)
    dec = Decoder(data)
    dec.decode(idx[:-1], *tables)
    with pytest.raises(ValueError, match="corrupt rANS stream"):
        dec.finish()  # one value left undecoded
    dec = Decoder(data)
    dec.decode(idx, *tables)
    dec.finish()
    assert dec.position == len(data)
    with pytest.raises(ValueError, match="corrupt rANS stream"):
        dec.decode(idx[:50], *tables)  # nothing left to read


def test_corrupted_streams_never_crash():
    rng = np.random.default_rng(7)
    tables = random_tables(rng, 6, 50)
    sym, idx = random_values(rng, tables, 400, 0.2)
    data = bytearray(encode(sym, idx, *tables))
    detected = 0
    for trial in range(3000):
        bad = bytearray(data)
        mode = trial % 5
        if mode == 0:  # bit flips
            for _ in range(int(rng.integers(1, 4))):
                pos = int(rng.integers(len(bad)))
                bad[pos] ^= 1 << int(rng.integers(8))
        elif mode == 1:  # truncation
            bad = bad[: int(rng.integers(0, len(bad)))]
        elif mode == 2:  # random garbage of random length
            bad = bytearray(rng.integers(0, 256, int(rng.integers(0, 2 * len(data))), dtype=np.uint8).tobytes())
        elif mode == 3:  # overwrite a run of bytes
            pos = int(rng.integers(len(bad)))
            bad[pos : pos + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
        else:  # insert or delete a word
            pos = 8 + 2 * int(rng.integers((len(bad) - 8) // 2))
            bad = bad[:pos] + bad[pos + 2 :] if rng.random() < 0.5 else bad[:pos] + b"\xff\x7f" + bad[pos:]
        out = _decode_all(bytes(bad), idx, tables, chunks=1 + trial % 3)
        detected += out is None
    assert detected > 0


def test_crafted_escape_errors():
    cdfs = np.array([[0, 30000, 60000, TOTAL]], np.int32)
    tables = (cdfs, np.array([4], np.int32), np.array([0], np.int32))
    esc = (0, 60000, TOTAL - 60000, 16)
    idx = np.zeros(1, np.int32)
    cases = {
        "count too large": [esc, (0, 10, 1, 4)] + [(0, 1, 1, 4)] * 10,
        "non-minimal": [esc, (0, 2, 1, 4), (0, 0, 1, 4), (0, 5, 1, 4)],
        "outside int32": [esc, (0, 9, 1, 4)] + [(0, 15, 1, 4)] * 9,
    }
    for reason, steps in cases.items():
        with pytest.raises(ValueError, match="corrupt rANS stream"):
            Decoder(ref_encode_steps(steps)).decode(idx, *tables)
    ok = [esc, (0, 2, 1, 4), (0, 1, 1, 4), (0, 5, 1, 4)]  # u = 0x15: s = -11
    dec = Decoder(ref_encode_steps(ok))
    assert dec.decode(idx, *tables).tolist() == [-11]
    dec.finish()


# --- table validation --------------------------------------------------------------------------


def _good_tables() -> Tables:
    cdfs = np.array([[0, 100, 65000, TOTAL, 0], [0, 1, 2, 3, TOTAL]], np.int32)
    return cdfs, np.array([4, 5], np.int32), np.array([-1, 0], np.int32)


def _malformed() -> list[tuple[str, Tables]]:
    cdfs, lengths, offsets = _good_tables()
    cases = []

    def case(name: str, c=cdfs, n=lengths, o=offsets) -> None:
        cases.append((name, (c, n, o)))

    for name, row, value in [("zero frequency", 0, (1, 0)), ("non-monotone", 0, (2, 50)),
                             ("wrong end", 0, (3, TOTAL - 1)), ("wrong start", 1, (0, 1))]:
        bad = cdfs.copy()
        bad[row, value[0]] = value[1]
        case(name, c=bad)
    case("length > W", n=np.array([4, 6], np.int32))
    case("length < 3", n=np.array([2, 5], np.int32))
    case("int64 cdfs", c=cdfs.astype(np.int64))
    case("float cdfs", c=cdfs.astype(np.float32))
    case("int64 offsets", o=offsets.astype(np.int64))
    case("float64 lengths", n=lengths.astype(np.float64))
    case("big-endian", c=cdfs.astype(">i4"))
    case("non-contiguous", c=np.repeat(cdfs, 2, axis=1)[:, ::2])
    case("1-D cdfs", c=cdfs[0])
    case("shape mismatch", o=np.zeros(3, np.int32))
    case("list", c=cdfs.tolist())
    case("offset overflow", o=np.array([I32_MAX, 0], np.int32))
    return cases


@pytest.mark.parametrize("name,tables", _malformed(), ids=[n for n, _ in _malformed()])
def test_malformed_tables_rejected(name, tables):
    with pytest.raises(ValueError):
        validate_tables(*tables)
    sym = idx = np.zeros(4, np.int32)
    with pytest.raises((ValueError, TypeError)):
        encode(sym, idx, *tables)
    with pytest.raises((ValueError, TypeError)):
        Decoder(encode(sym, idx, *_good_tables())).decode(idx, *tables)


def test_good_tables_and_bad_arguments():
    tables = _good_tables()
    validate_tables(*tables)
    sym = np.array([0, 1, 2, 5], np.int32)
    for bad_idx in ([0, 1, 2, 0], [0, -1, 0, 0]):
        idx = np.array(bad_idx, np.int32)
        with pytest.raises(ValueError, match="outside"):
            encode(sym, idx, *tables)
        with pytest.raises(ValueError, match="outside"):
            Decoder(encode(sym, np.zeros(4, np.int32), *tables)).decode(idx, *tables)
    with pytest.raises(TypeError):
        encode(sym.astype(np.int64), np.zeros(4, np.int32), *tables)
    with pytest.raises(TypeError):
        encode(list(sym), np.zeros(4, np.int32), *tables)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same length"):
        encode(sym, np.zeros(3, np.int32), *tables)
    with pytest.raises(ValueError, match="C-contiguous"):
        encode(np.zeros(8, np.int32)[::2], np.zeros(4, np.int32), *tables)
    with pytest.raises(ValueError, match="1-D"):
        encode(sym.reshape(2, 2), np.zeros((2, 2), np.int32), *tables)
