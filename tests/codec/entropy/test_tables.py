"""CDF quantisation and packing: exact sums, positive frequencies, determinism, near-optimality."""
from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecodec.codec.entropy.rans import Decoder, encode, validate_tables
from edgecodec.codec.entropy.tables import pack_cdfs, pmf_to_cdf

TOTAL = 1 << 16


def gaussian(scale: float, z: float = 6.109410204869) -> tuple[np.ndarray, float]:
    """Discretised N(0, scale) over [-r, r] (r = ceil(z * scale)) and its tail mass."""
    r = int(math.ceil(scale * z))

    def upper(x: float) -> float:
        return 0.5 * math.erfc(x / (scale * math.sqrt(2.0)))

    pmf = np.array([upper(abs(k) - 0.5) - upper(abs(k) + 0.5) if k else 1 - 2 * upper(0.5) for k in range(-r, r + 1)])
    return pmf, 2 * upper(r + 0.5)


def laplacian(b: float, r: int) -> tuple[np.ndarray, float]:
    edges = np.arange(-r, r + 2) - 0.5
    cdf = np.where(edges < 0, 0.5 * np.exp(edges / b), 1 - 0.5 * np.exp(-edges / b))
    return np.diff(cdf), float(2 * 0.5 * np.exp(-(r + 0.5) / b))


def cross_entropy(probs: np.ndarray, cdf: np.ndarray) -> float:
    q = probs / probs.sum()
    return float(-(q * np.log2(np.diff(cdf) / TOTAL)).sum())


def entropy(probs: np.ndarray) -> float:
    q = probs[probs > 0] / probs.sum()
    return float(-(q * np.log2(q)).sum())


def optimal_cdf(probs: np.ndarray) -> np.ndarray:
    """Exact minimum cross-entropy integer frequencies (greedy on concave marginal gains)."""
    q = probs / probs.sum()
    freqs = np.ones(q.size, np.int64)
    heap = [(-q[i] * math.log(2.0), i) for i in range(q.size)]
    heapq.heapify(heap)
    for _ in range(TOTAL - q.size):
        _, i = heapq.heappop(heap)
        freqs[i] += 1
        heapq.heappush(heap, (-q[i] * math.log((freqs[i] + 1) / freqs[i]), i))
    return np.concatenate([[0], np.cumsum(freqs)])


def check_cdf(cdf: np.ndarray, n_symbols: int) -> None:
    assert cdf.dtype == np.int32 and cdf.shape == (n_symbols + 1,)
    assert cdf[0] == 0 and cdf[-1] == TOTAL
    assert np.all(np.diff(cdf) >= 1)


@settings(max_examples=200, deadline=None)
@given(
    pmf=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=300),
    tail=st.floats(0.0, 1.0),
    spike=st.booleans(),
)
def test_pmf_to_cdf_valid(pmf, tail, spike):
    p = np.array(pmf)
    if spike:  # one dominant symbol with many tiny ones: exercises the take-away fix-up
        p = p * 1e-7
        p[0] = 1.0
    if p.sum() + tail == 0:
        tail = 1.0
    cdf = pmf_to_cdf(p, tail)
    check_cdf(cdf, p.size + 1)
    np.testing.assert_array_equal(cdf, pmf_to_cdf(p.copy(), tail))


@pytest.mark.parametrize(
    "name,dist",
    [(f"gauss{s}", gaussian(s)) for s in (0.11, 0.5, 2.0, 8.0, 32.0)]
    + [(f"laplace{b}", laplacian(b, r)) for b, r in ((0.5, 20), (4.0, 80), (20.0, 300))],
)
def test_near_optimal(name, dist):
    pmf, tail = dist
    probs = np.append(pmf, tail)
    cdf = pmf_to_cdf(pmf, tail)
    check_cdf(cdf, probs.size)
    assert cross_entropy(probs, cdf) - entropy(probs) < 0.01, name
    if probs.size <= 200:
        assert cross_entropy(probs, cdf) - cross_entropy(probs, optimal_cdf(probs)) < 1e-3, name


def test_wide_table_close_to_optimal():
    pmf, tail = gaussian(100.0)  # 1224 symbols, most tail symbols pinned at frequency 1
    probs = np.append(pmf, tail)
    cdf = pmf_to_cdf(pmf, tail)
    check_cdf(cdf, probs.size)
    assert cross_entropy(probs, cdf) - cross_entropy(probs, optimal_cdf(probs)) < 1e-3


def test_golden_table():
    """The quantised table is part of the bitstream contract: pin one."""
    pmf = np.array([1e-9, 3e-6, 0.001, 0.0123, 0.1, 0.33, 0.41, 0.12, 0.0266, 1e-5, 2e-7, 0.0])
    assert pmf_to_cdf(pmf, 1e-9).tolist() == GOLDEN_CDF


GOLDEN_CDF = [0, 1, 2, 68, 874, 7427, 29055, 55926, 63790, 65532, 65533, 65534, 65535, 65536]


def test_edge_cases_and_errors():
    check_cdf(pmf_to_cdf(np.array([1.0]), 0.0), 2)
    check_cdf(pmf_to_cdf(np.zeros(5), 1e-9), 6)
    check_cdf(pmf_to_cdf(np.array([0.5, -1e-17, 0.5]), 0.0), 4)  # float noise counts as 0
    check_cdf(pmf_to_cdf(np.full(TOTAL - 1, 1.0), 0.0), TOTAL)
    check_cdf(pmf_to_cdf(np.array([5e-324, 5e-324, 1e-323]), 0.0), 4)  # subnormal mass
    check_cdf(pmf_to_cdf(np.array([1e308, 1e308]), 1e308), 3)  # sum overflows float64
    assert pmf_to_cdf(np.array([0.25, 0.5]), 0.25, precision=4).tolist() == [0, 4, 12, 16]
    for pmf, tail in ((np.zeros(3), 0.0), (np.array([np.nan, 1.0]), 0.0), (np.array([1.0]), np.inf),
                      (np.full(TOTAL, 1.0), 0.0), (np.zeros(0), 1.0)):
        with pytest.raises(ValueError):
            pmf_to_cdf(pmf, tail)


def test_pack_cdfs_round_trip():
    cdfs = [pmf_to_cdf(*gaussian(s)) for s in (0.3, 1.0, 4.0)]
    table, lengths = pack_cdfs(cdfs)
    assert table.dtype == np.int32 and lengths.dtype == np.int32
    assert table.shape == (3, max(len(c) for c in cdfs)) and lengths.tolist() == [len(c) for c in cdfs]
    for row, c in zip(table, cdfs):
        np.testing.assert_array_equal(row[: len(c)], c)
    offsets = np.array([-(len(c) - 2) // 2 for c in cdfs], np.int32)
    validate_tables(table, lengths, offsets)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 3, 1000).astype(np.int32)
    sym = np.rint(rng.standard_normal(1000) * np.array([0.3, 1.0, 4.0])[idx] * 2).astype(np.int32)
    dec = Decoder(encode(sym, idx, table, lengths, offsets))
    np.testing.assert_array_equal(dec.decode(idx, table, lengths, offsets), sym)
    dec.finish()
    with pytest.raises(ValueError):
        pack_cdfs([np.zeros(0)])
