"""``edgecodec encode``, ``decode`` and ``info``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .stream_coding import decode_stream, encode_stream, is_stream_file, stream_args

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encode", help="compress an image to .ecb, or a video to an .ecs stream",
                       description="Compress an image to an .ecb file, or a video file, a folder of images (in "
                                   "name order) or a camera source to an .ecs stream of key and delta frames "
                                   "(an output ending in .ecs).")
    p.add_argument("input", help="image file (PNG, JPEG, ...; 8/16-bit, gray, RGB or RGBA; - for stdin); or a "
                                 "video, a folder or a camera source (as the daemon's `source`) with an .ecs output")
    p.add_argument("-o", "--out", "--output", dest="output", required=True,
                   help="output .ecb file (- for stdout), or .ecs stream file")
    p.add_argument("-q", "--quality", type=float, default=50.0, help="0..100, higher is better (default 50)")
    p.add_argument("--model", default=None, help="checkpoint path or configuration name (default: embedded)")
    _backend_args(p)
    _max_pixels_arg(p, "refuse larger images (decoders refuse them too, unless given the same limit)")
    stream_args(p)
    p.set_defaults(run=run_encode)

    p = sub.add_parser("decode", help="decompress .ecb to PNG, or .ecs to a folder of PNGs",
                       description="Decompress an .ecb file to PNG, or an .ecs stream to FOLDER/frame_000000.png, "
                                   "... (one per coded frame, in order).")
    p.add_argument("input", help=".ecb or .ecs file (- for stdin)")
    p.add_argument("-o", "--out", "--output", dest="output", required=True,
                   help="output PNG file (- for stdout); for .ecs: a new or empty folder")
    p.add_argument("--model", default=None, help="checkpoint path or configuration name (default: embedded)")
    _backend_args(p)
    _max_pixels_arg(p, "refuse larger images (decompression-bomb guard)")
    p.set_defaults(run=run_decode)

    p = sub.add_parser("info", help="print an .ecb header (or each frame of an .ecs) as JSON",
                       description="Print an .ecb header, or each frame of an .ecs stream (kind, reference, "
                                   "size, quality), as JSON.")
    p.add_argument("input", help=".ecb or .ecs file (- for stdin)")
    p.set_defaults(run=run_info)


def _backend_args(p: argparse.ArgumentParser) -> None:
    from ..runtime import BACKENDS

    p.add_argument("--backend", choices=BACKENDS, default="torch", help="runtime of the float transforms")
    p.add_argument("--engines", default=None, help="engine folder for --backend tensorrt (edgecodec export trt)")
    p.add_argument("--plugin", default=None, help="TensorRT plugin library, if the engines use it")


def _max_pixels_arg(p: argparse.ArgumentParser, what: str) -> None:
    from ..codec.bitstream import DEFAULT_MAX_PIXELS

    p.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS,
                   help=f"{what}; default {DEFAULT_MAX_PIXELS} (16.7 million)")


def load(args: argparse.Namespace):
    """The codec the command's --model, --backend, --engines and --plugin name."""
    from ..runtime import load_codec

    return load_codec(args.model, args.backend, args.engines, Path(args.plugin) if args.plugin else None)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def run_encode(args: argparse.Namespace) -> int:
    from ..imageio import STDIO, is_pipe, read_image, refuse_overwriting, write_atomic
    from ..videoio import is_sequence

    refuse_overwriting(args.input, args.output)
    if is_stream_file(args.output):
        if args.input == STDIO:
            raise ValueError("a stream is coded from a video, a folder or a camera, not - (stdin)")
        return encode_stream(args)
    if not is_pipe(args.input) and is_sequence(args.input):
        raise ValueError(f"{args.input} is a video, a folder or a camera: write a stream file (-o NAME.ecs)")
    image = read_image(args.input, args.max_pixels)
    write_atomic(args.output, load(args).encode(image, args.quality))
    return 0


def run_decode(args: argparse.Namespace) -> int:
    from ..codec import bitstream
    from ..imageio import STDIO, read_input, refuse_overwriting, write_png

    refuse_overwriting(args.input, args.output)
    data = read_input(args.input)
    if data[:4] == bitstream.STREAM_MAGIC:
        if args.output == STDIO:
            raise ValueError("an .ecs stream decodes to a folder of PNGs: give a folder, not - (stdout)")
        return decode_stream(args, data)
    try:
        bitstream.read_header(data, args.max_pixels)  # fail fast, before loading a model
    except bitstream.ImageTooLarge as e:
        raise bitstream.ImageTooLarge(f"{e}; --max-pixels raises it") from None
    write_png(args.output, load(args).decode(data, max_pixels=args.max_pixels))
    return 0


def run_info(args: argparse.Namespace) -> int:
    from ..codec import bitstream
    from ..imageio import read_input

    data = read_input(args.input)
    if data[:4] == bitstream.STREAM_MAGIC:
        frames = [frame_info(f) for f in bitstream.unpack_stream(data)]
        info = {"frames": len(frames), "bytes": len(data),
                "key_frames": sum(f["kind"] == "key" for f in frames), "frame_info": frames}
    else:
        info = frame_info(data)
    print(json.dumps(info, indent=2))
    return 0


def frame_info(data: bytes) -> dict:
    """One frame's header as JSON-ready fields, with its size and stream lengths."""
    from ..codec import bitstream

    header, streams = bitstream.unpack(data, max_pixels=bitstream.MAX_SIDE ** 2)
    names = ("flag_bytes", "z_bytes", "y_bytes") if header.is_delta else ("z_bytes", "y_bytes")
    return header.to_json() | {"bytes": len(data)} | {n: len(s) for n, s in zip(names, streams)} | {
        "bpp": round(8 * len(data) / (header.width * header.height), 5)}
