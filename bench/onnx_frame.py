"""Encoder and decoder graphs under ONNX Runtime on the CPU: ms per frame and file sizes.

Exports a model's graphs (`edgecodec export onnx` does the same) with the sampling variant
ONNX Runtime runs fastest (DeformConv), then times one frame through each graph. Compare a
float model with its int8 (`edgecodec qat`) twin. Usage:

    python bench/onnx_frame.py MODEL [MODEL ...] [--width 768] [--height 576] [--threads 2] [--runs 7]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgecodec.checkpoint import load_model  # noqa: E402
from edgecodec.export.onnx_export import export_graphs  # noqa: E402


def median_ms(session, feeds: dict, runs: int) -> float:
    session.run(None, feeds)  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    import onnxruntime as ort

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="checkpoint paths or configuration names")
    p.add_argument("--width", type=int, default=768)
    p.add_argument("--height", type=int, default=576)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args()
    if args.width % 64 or args.height % 64:
        raise SystemExit("width and height must be multiples of 64")
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    rng = np.random.default_rng(0)
    print(f"ONNX Runtime {ort.__version__}, {args.width}x{args.height}, {args.threads} threads, median of {args.runs}")
    print(f"{'model':<40}{'graph':<9}{'ms':>8}{'MB':>8}")
    for spec in args.models:
        model = load_model(spec)
        m = model.config.latent
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graphs = export_graphs(model, "deform_conv")
        feeds = {
            "encoder": {"image": rng.random((1, 3, args.height, args.width), dtype=np.float32),
                        "gain": np.ones((1, m, 1, 1), np.float32)},
            "decoder": {"latent": rng.normal(0, 2, (1, m, args.height // 16, args.width // 16)).astype(np.float32),
                        "inverse_gain": np.ones((1, m, 1, 1), np.float32)},
        }
        for name, feed in feeds.items():
            session = ort.InferenceSession(graphs[name], options, providers=["CPUExecutionProvider"])
            ms = median_ms(session, feed, args.runs)
            print(f"{Path(spec).name[:39]:<40}{name:<9}{ms:>8.1f}{len(graphs[name]) / 1e6:>8.2f}")


if __name__ == "__main__":
    main()
