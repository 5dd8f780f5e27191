"""``edgecodec bench``: coder throughput, per-image encode/decode time, kMAC per pixel."""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from .demo import SAMPLES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark the coder and the model",
                       description="rANS throughput (one core), encode/decode seconds per image on real "
                                   "bitstreams, and kMAC per pixel of encoder and decoder.")
    p.add_argument("folder", nargs="?", default=None, help="images (default: the sample photos shipped with the package)")
    p.add_argument("--model", default=None, help="checkpoint path or configuration name (default: embedded)")
    p.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch", help="float transforms' runtime")
    p.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2)")
    p.add_argument("--quality", type=float, default=50.0, help="quality of the timed encodes")
    p.add_argument("--images", type=int, default=0, help="time only the first N images (0: all)")
    p.add_argument("--symbols", type=int, default=2_000_000, help="symbols for the coder benchmark")
    p.add_argument("--json", dest="json_out", default=None, help="also write the results to this JSON file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..codec.complexity import kmac_per_pixel
    from ..codec.entropy.throughput import coder_throughput
    from ..imageio import read_image, write_atomic
    from ..imageio import list_images
    from ..runtime import load_codec

    torch.set_num_threads(args.threads)
    coder = coder_throughput(args.symbols)
    print(f"rANS (one core): encode {coder['encode_msym_s']:.1f} M symbols/s, decode "
          f"{coder['decode_msym_s']:.1f} M symbols/s, {coder['overhead_pct']:.3f}% over the ideal size")
    codec = load_codec(args.model, args.backend)
    files = list_images(Path(args.folder) if args.folder else SAMPLES)
    files = files[: args.images] if args.images else files
    enc_t, dec_t, bpp = [], [], []
    image = read_image(files[0])
    codec.decode(codec.encode(image, args.quality))  # warm-up
    for path in files:
        image = read_image(path)
        t0 = time.perf_counter()
        data = codec.encode(image, args.quality)
        t1 = time.perf_counter()
        codec.decode(data)
        dec_t.append(time.perf_counter() - t1)
        enc_t.append(t1 - t0)
        bpp.append(8 * len(data) / (image.shape[0] * image.shape[1]))
    print(f"{len(files)} images, backend {args.backend}, {args.threads} threads, quality {args.quality}: "
          f"encode median {statistics.median(enc_t) * 1e3:.0f} ms, decode median "
          f"{statistics.median(dec_t) * 1e3:.0f} ms, mean {statistics.mean(bpp):.3f} bpp")
    macs = kmac_per_pixel(codec.model)
    print(f"complexity: encoder {macs['encoder_kmac_per_pixel']:.1f} kMAC/pixel, decoder "
          f"{macs['decoder_kmac_per_pixel']:.1f} kMAC/pixel")
    if args.json_out:
        result = {"coder": coder, "backend": args.backend, "threads": args.threads, "images": len(files),
                  "encode_ms_median": statistics.median(enc_t) * 1e3, "decode_ms_median": statistics.median(dec_t) * 1e3,
                  "bpp_mean": statistics.mean(bpp), **macs}
        write_atomic(args.json_out, json.dumps(result, indent=2).encode())
    return 0
