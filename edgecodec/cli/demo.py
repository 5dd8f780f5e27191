"""``edgecodec demo``: encode and decode a folder of images, print bpp and PSNR per image."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "samples"  # two Kodak photos shipped with the package


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job: code a folder of images, then stream a camera to a server",
                       description="1) Round-trip every image of a folder through real .ecb bytes with the "
                                   "embedded model (bpp and PSNR per image). 2) The whole loop: a local server, "
                                   "the daemon streaming a video to it (key and delta frames), a summary "
                                   "(frames stored, key / delta frames, kbit/s, PSNR of the server's decodes; "
                                   "edgecodec intra at the same quality; JPEG and x264 veryfast zerolatency, "
                                   "GOP 2 s, at the same PSNR) and the viewer's URL. `make demo` passes "
                                   "../shared/data/kodak and vtest.avi when they exist.")
    p.add_argument("folder", nargs="?", default=None,
                   help="images to code (default: the two sample photos shipped with the package)")
    p.add_argument("--video", default=None,
                   help="video to stream in part 2 (default: a generated clip of a fixed textured scene with two "
                        "blocks walking across it)")
    p.add_argument("-q", "--quality", type=float, default=50.0, help="0..100 (default 50)")
    p.add_argument("--model", default=None, help="checkpoint path or configuration name (default: embedded)")
    p.add_argument("--frames", type=int, default=30, help="frames to stream in part 2 (default 30; 0: skip)")
    p.add_argument("--serve-for", type=float, default=0.0,
                   help="keep the demo server and its viewer page up this many seconds after the summary")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.frames < 0:
        raise ValueError(f"--frames must be >= 0, got {args.frames}")
    if args.video is not None and not Path(args.video).is_file():
        raise FileNotFoundError(f"video {args.video} is not a file")
    code_images(args)
    if args.frames > 0:
        from .stream_demo import run_stream_demo

        print(f"\nstreaming {args.frames} frames through a local server (camera daemon -> ingest server)")
        run_stream_demo(frames=args.frames, model=args.model, quality=args.quality, serve_for=args.serve_for,
                        source=args.video)
    return 0


def code_images(args: argparse.Namespace) -> None:
    """Part 1: every image of the folder through real bytes, one line per image."""
    from ..checkpoint import DEFAULT_WEIGHTS
    from ..codec import bitstream
    from ..imageio import read_image
    from ..quality import psnr_u8
    from ..runtime import load_codec
    from ..imageio import list_images

    folder = Path(args.folder) if args.folder else SAMPLES
    codec = load_codec(args.model)
    trained = args.model is not None or DEFAULT_WEIGHTS.exists()
    print(f"model {codec.model.config.name} ({codec.model_id.hex()})"
          + ("" if trained else " -- UNTRAINED deterministic initial weights, expect poor quality"))
    print(f"images from {folder}, quality {args.quality}")
    print(f"{'image':<16}{'size':>11}{'bytes':>9}{'bpp':>8}{'PSNR dB':>9}{'enc s':>7}{'dec s':>7}")
    rows = []
    for path in list_images(folder):
        image = read_image(path)
        t0 = time.perf_counter()
        data = codec.encode(image, args.quality)
        t1 = time.perf_counter()
        out = codec.decode(data)
        t2 = time.perf_counter()
        header = bitstream.unpack(data).header
        bpp = 8 * len(data) / (header.width * header.height)
        psnr = psnr_u8(image, out)
        rows.append((bpp, psnr, t1 - t0, t2 - t1))
        print(f"{path.name:<16}{header.width:>5}x{header.height:<5}{len(data):>9}{bpp:>8.3f}{psnr:>9.2f}"
              f"{t1 - t0:>7.2f}{t2 - t1:>7.2f}")
    n = len(rows)
    mean = [sum(r[i] for r in rows) / n for i in range(4)]
    print(f"{'mean':<16}{'':>11}{'':>9}{mean[0]:>8.3f}{mean[1]:>9.2f}{mean[2]:>7.2f}{mean[3]:>7.2f}")
