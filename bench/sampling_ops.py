"""Speed of the deformable sampling operator: PyTorch reference vs its ONNX Runtime exports.

The core alone (no projections): value (1, C, H, W), offsets and mask as inputs,
one CPU thread, median of repeated runs. Usage:

    python bench/sampling_ops.py [--channels 64] [--height 144] [--width 192] [--groups 4]
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgecodec.codec.ops.sampling_variants import sample  # noqa: E402


class Core(torch.nn.Module):
    def __init__(self, variant: str, groups: int):
        super().__init__()
        self.variant, self.groups = variant, groups

    def forward(self, value, offset, mask):
        return sample(self.variant, value, offset, mask, self.groups)


def median_ms(fn, repeats: int = 15) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def main() -> None:
    import onnxruntime as ort

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--height", type=int, default=144)
    ap.add_argument("--width", type=int, default=192)
    ap.add_argument("--groups", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    c, h, w, g = args.channels, args.height, args.width, args.groups
    value = torch.randn(1, c, h, w)
    offset = torch.randn(1, g * 18, h, w) * 2
    mask = torch.rand(1, g * 9, h, w)
    with torch.no_grad():
        ref = sample("grid_sample", value, offset, mask, g)
        print(f"{c} channels, {h}x{w}, {g} groups, 3x3, one thread")
        print(f"  PyTorch reference (grid_sample per point): {median_ms(lambda: sample('grid_sample', value, offset, mask, g)):7.1f} ms")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    for variant in ("grid_sample", "deform_conv"):
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Core(variant, g), (value, offset, mask), buf, opset_version=19,
                              input_names=["value", "offset", "mask"], dynamo=False)
        sess = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
        feed = {"value": value.numpy(), "offset": offset.numpy(), "mask": mask.numpy()}
        err = float(np.abs(sess.run(None, feed)[0] - ref.numpy()).max())
        print(f"  ONNX Runtime {variant:<12}: {median_ms(lambda: sess.run(None, feed)):7.1f} ms (max |diff| {err:.1e})")


if __name__ == "__main__":
    main()
