"""``edgecodec encode VIDEO -o OUT.ecs`` and ``decode OUT.ecs -o FOLDER``: streams of key and delta frames."""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("edgecodec.stream")


def stream_args(p: argparse.ArgumentParser) -> None:
    """The encode command's options for video inputs (.ecs outputs)."""
    from ..codec.stream import CHAIN

    p.add_argument("--fps", type=float, default=None,
                   help="sample the source at this rate (default: every frame of the source)")
    p.add_argument("--frames", type=int, default=None, help="code at most this many frames")
    p.add_argument("--key-interval", type=float, default=60.0, metavar="SECONDS",
                   help="longest time between key frames (default 60; 0: only at the start and on scene changes)")
    p.add_argument("--scene-change", type=float, default=0.5, metavar="SHARE",
                   help="code a key frame when a delta frame would cost more than this share of the "
                        "frame coded in full (default 0.5)")
    p.add_argument("--chain", type=int, default=CHAIN, metavar="N",
                   help=f"delta frames reference the frame before them in chains of at most N frames back to "
                        f"the key frame (default {CHAIN}; 1: every delta frame references the key frame)")
    p.add_argument("--intra", action="store_true", help="code every frame as a key frame")


def is_stream_file(path: str) -> bool:
    return Path(path).suffix.lower() == ".ecs"


def encode_stream(args: argparse.Namespace) -> int:
    """Code the source's frames into one .ecs file, written atomically at the end."""
    from ..codec import bitstream
    from ..codec.stream import StreamEncoder, StreamPolicy
    from ..imageio import write_atomic
    from ..videoio import Frames
    from .coding import load

    if args.key_interval < 0:
        raise ValueError(f"--key-interval must be >= 0 seconds, got {args.key_interval:g}")
    frames = Frames(args.input, args.fps, args.frames, args.max_pixels)
    try:
        policy = StreamPolicy(key_interval=round(args.key_interval * frames.rate), scene_change=args.scene_change,
                              intra=args.intra, chain=args.chain)
        encoder = StreamEncoder(load(args), args.quality, policy)
        coded = []
        try:
            for image in frames:
                _check_size(image, args.max_pixels)
                coded.append(encoder.encode(image).data)
        except KeyboardInterrupt:
            log.warning("interrupted: writing the %d frames coded so far", len(coded))
    finally:
        frames.close()
    if not coded:
        raise ValueError(f"no frames in {args.input}")
    write_atomic(args.output, bitstream.pack_stream(coded))
    return 0


def _check_size(image, max_pixels: int) -> None:
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ValueError(f"frame size {image.shape[1]}x{image.shape[0]} exceeds --max-pixels ({max_pixels})")


def decode_stream(args: argparse.Namespace, data: bytes) -> int:
    """Decode every frame of an .ecs file into a new (or empty) folder, all or nothing."""
    from ..codec import bitstream
    from ..codec.stream import StreamDecoder
    from ..imageio import encode_png
    from .coding import load

    out = Path(args.output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder")
    frames = bitstream.unpack_stream(data)
    for i, frame in enumerate(frames):
        try:
            bitstream.read_header(frame, args.max_pixels)
        except bitstream.BitstreamError as e:
            raise type(e)(f"frame {i}: {e}") from None
    decoder = StreamDecoder(load(args), max_pixels=args.max_pixels)
    parent = out.resolve().parent
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    try:
        for i, frame in enumerate(frames):
            try:
                png = encode_png(decoder.decode(frame))
            except ValueError as e:
                raise type(e)(f"frame {i}: {e}") from None
            (staging / f"frame_{i:06d}.png").write_bytes(png)
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return 0
