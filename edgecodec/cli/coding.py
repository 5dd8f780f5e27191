"""``edgecodec encode``, ``decode`` and ``info``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

BACKENDS = ("torch", "onnxruntime", "tensorrt")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encode", help="compress an image to .ecb", description="Compress an image to an .ecb file.")
    p.add_argument("input", help="image file (PNG, JPEG, ...; 8/16-bit, gray, RGB or RGBA)")
    p.add_argument("-o", "--output", required=True, help="output .ecb file")
    p.add_argument("-q", "--quality", type=float, default=50.0, help="0..100, higher is better (default 50)")
    p.add_argument("--model", default=None, help="checkpoint path or configuration name (default: embedded)")
    _backend_args(p)
    _max_pixels_arg(p, "refuse larger images (decoders refuse them too, unless given the same limit)")
    p.set_defaults(run=run_encode)

    p = sub.add_parser("decode", help="decompress .ecb to PNG", description="Decompress an .ecb file to PNG.")
    p.add_argument("input", help=".ecb file")
    p.add_argument("-o", "--output", required=True, help="output PNG file")
    p.add_argument("--model", default=None, help="checkpoint path or configuration name (default: embedded)")
    _backend_args(p)
    _max_pixels_arg(p, "refuse larger images (decompression-bomb guard)")
    p.set_defaults(run=run_decode)

    p = sub.add_parser("info", help="print an .ecb header as JSON", description="Print an .ecb header as JSON.")
    p.add_argument("input", help=".ecb file")
    p.set_defaults(run=run_info)


def _backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=BACKENDS, default="torch", help="runtime of the float transforms")
    p.add_argument("--engines", default=None, help="engine folder for --backend tensorrt (edgecodec export trt)")
    p.add_argument("--plugin", default=None, help="TensorRT plugin library, if the engines use it")


def _max_pixels_arg(p: argparse.ArgumentParser, what: str) -> None:
    from ..codec.bitstream import DEFAULT_MAX_PIXELS

    p.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS,
                   help=f"{what}; default {DEFAULT_MAX_PIXELS} (16.7 million)")


def _load(args: argparse.Namespace):
    from ..backends import load_backend

    return load_backend(args.model, args.backend, args.engines, Path(args.plugin) if args.plugin else None)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def run_encode(args: argparse.Namespace) -> int:
    from ..codec import codec
    from ..imageio import read_image, refuse_overwriting, write_atomic

    refuse_overwriting(args.input, args.output)
    image = read_image(args.input, args.max_pixels)
    backend = _load(args)
    data = codec.encode(backend.model, image, args.quality, backend.encoder, backend.model_id)
    write_atomic(args.output, data)
    return 0


def run_decode(args: argparse.Namespace) -> int:
    from ..codec import bitstream, codec
    from ..imageio import read_input, refuse_overwriting, write_png

    refuse_overwriting(args.input, args.output)
    data = read_input(args.input)
    try:
        bitstream.read_header(data, args.max_pixels)  # fail fast, before loading a model
    except bitstream.ImageTooLarge as e:
        raise bitstream.ImageTooLarge(f"{e}; --max-pixels raises it") from None
    backend = _load(args)
    image = codec.decode(backend.model, data, backend.decoder, backend.model_id, args.max_pixels)
    write_png(args.output, image)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from ..codec import bitstream
    from ..imageio import read_input

    data = read_input(args.input)
    header, z, y = bitstream.unpack(data, max_pixels=bitstream.MAX_SIDE ** 2)
    info = header.to_json() | {"bytes": len(data), "z_bytes": len(z), "y_bytes": len(y),
                               "bpp": round(8 * len(data) / (header.width * header.height), 5)}
    print(json.dumps(info, indent=2))
    return 0
