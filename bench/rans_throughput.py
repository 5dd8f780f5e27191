"""Print rANS coder throughput and compression (see edgecodec.codec.entropy.throughput)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from edgecodec.codec.entropy.throughput import coder_throughput


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--symbols", type=int, nargs="+", default=[1_000_000, 4_000_000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"{'symbols':>10} {'bytes':>10} {'bits/sym':>9} {'ideal':>9} {'overhead':>9} "
          f"{'enc M/s':>8} {'dec M/s':>8}")
    for n in args.symbols:
        r = coder_throughput(n, args.seed, args.repeats)
        print(f"{n:>10} {int(r['bytes']):>10} {r['bits_per_symbol']:>9.4f} {r['ideal_bits_per_symbol']:>9.4f} "
              f"{r['overhead_pct']:>8.3f}% {r['encode_msym_s']:>8.1f} {r['decode_msym_s']:>8.1f}")


if __name__ == "__main__":
    main()
