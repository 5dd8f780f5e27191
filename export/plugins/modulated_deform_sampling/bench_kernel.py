"""Bandwidth benchmark of the plugin's CUDA kernel (needs a CUDA GPU; not run in CI).

    python export/plugins/modulated_deform_sampling/bench_kernel.py --shape 1 96 136 240 --groups 4

For each dtype and layout it reports the median kernel time, the achieved bandwidth
(compulsory bytes: value, offset and mask read once, output written once), that bandwidth as a
fraction of a device-to-device copy's measured bandwidth (the practical roofline), and the
speed-up over the PyTorch reference (``deform_sample``: one grid_sample per kernel point).
Timing: CUDA events around each call, after warm-up; the median over --iters calls.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[2]))  # the repository root, for edgecodec

import torch_ext  # noqa: E402
from edgecodec.codec.ops.deform_sampling import deform_sample  # noqa: E402


def median_ms(fn, warmup: int, iters: int) -> float:
    """Median time of ``fn()`` in milliseconds, each call bracketed by CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def copy_bandwidth(warmup: int, iters: int, nbytes: int = 256 << 20) -> float:
    """Device-to-device copy bandwidth in GB/s (bytes read + bytes written)."""
    src = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), warmup, iters)
    return 2 * nbytes / (ms * 1e-3) / 1e9


def compulsory_bytes(n, c, h, w, groups, k, itemsize, layout) -> int:
    """value + offset + mask read once, output written once (padding included for NHWC8)."""
    pitch = torch_ext._pitch
    per_pixel = 2 * pitch(layout, c) + pitch(layout, 2 * groups * k) + pitch(layout, groups * k)
    return n * h * w * per_pixel * itemsize


def bench(args, dtype: torch.dtype, layout: str, copy_gbs: float) -> str:
    n, c, h, w = args.shape
    k = args.kernel_size ** 2
    torch.manual_seed(0)
    value = torch.randn(n, c, h, w, device="cuda", dtype=dtype)
    offset = torch.randn(n, args.groups * k * 2, h, w, device="cuda", dtype=dtype) * args.offset_spread
    mask = torch.softmax(torch.randn(n, args.groups, k, h, w, device="cuda"), 2).reshape(n, -1, h, w).to(dtype)
    v, o, m = (torch_ext.pack(t, layout) for t in (value, offset, mask))
    out = torch.empty_like(v)
    shape = (n, c, h, w)
    kernel_ms = median_ms(lambda: torch_ext.launch(v, o, m, out, shape, args.groups, args.kernel_size,
                                                   args.dilation, args.offset_scale, layout), args.warmup, args.iters)
    ref_ms = median_ms(lambda: deform_sample(value, offset, mask, args.groups, args.kernel_size, args.dilation,
                                             args.offset_scale), args.warmup, args.iters)
    nbytes = compulsory_bytes(n, c, h, w, args.groups, k, value.element_size(), layout)
    gbs = nbytes / (kernel_ms * 1e-3) / 1e9
    return (f"{str(dtype).removeprefix('torch.'):8} {layout:6} {kernel_ms:9.4f} ms {nbytes / 1e6:9.2f} MB "
            f"{gbs:8.1f} GB/s {100 * gbs / copy_gbs:6.1f}% of copy   grid_sample {ref_ms:8.3f} ms "
            f"({ref_ms / kernel_ms:5.1f}x)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", type=int, nargs=4, default=[1, 96, 136, 240], metavar=("N", "C", "H", "W"),
                   help="value shape (default: dkic-small width at a 1088x1920 frame / 8)")
    p.add_argument("--groups", type=int, default=4)
    p.add_argument("--kernel-size", type=int, default=3)
    p.add_argument("--dilation", type=int, default=1)
    p.add_argument("--offset-scale", type=float, default=1.0)
    p.add_argument("--offset-spread", type=float, default=2.0, help="std of the random offsets, in pixels")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--iters", type=int, default=200)
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_kernel.py needs a CUDA GPU", file=sys.stderr)
        return 2
    torch_ext.load()
    copy_gbs = copy_bandwidth(args.warmup, args.iters)
    print(f"{torch.cuda.get_device_name()}: device-to-device copy {copy_gbs:.1f} GB/s; "
          f"shape {tuple(args.shape)}, groups {args.groups}, kernel {args.kernel_size}")
    for dtype, layout in [(torch.float32, "nchw"), (torch.float32, "nhwc"), (torch.float16, "nchw"),
                          (torch.float16, "nhwc"), (torch.float16, "nhwc8")]:
        print(bench(args, dtype, layout, copy_gbs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
