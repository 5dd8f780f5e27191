"""``edgecodec eval-video``: rate-distortion on a fixed camera's video, edgecodec against x264 / x265 / JPEG / WebP."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from .record import command_line

if TYPE_CHECKING:
    from ..codec.facade import Codec
    from ..evaluation.video import Clip, Plan

OUTPUT_FILES = ("rd_psnr.svg", "results.json")


def register(sub: argparse._SubParsersAction) -> None:
    from ..evaluation.ffmpeg import DEFAULT_CRFS
    from ..evaluation.images import DEFAULT_QUALITIES
    from ..codec.stream import CHAIN
    from ..evaluation.video import CODEC_NAMES

    p = sub.add_parser("eval-video", help="rate-distortion on video: edgecodec stream / intra, x264, x265, "
                                          "JPEG, WebP on the same frames",
                       description="Samples frames of VIDEO (from --start, at --fps, at most --frames), codes "
                                   "them with every codec at several settings (real bytes), and writes "
                                   "results.json (kbit/s, bpp, PSNR, per-frame bytes, timings, BD-rate against "
                                   "edgecodec's stream and intra curves) and rd_psnr.svg into --out. x264 / x265 "
                                   "run through ffmpeg (Debian package ffmpeg).")
    p.add_argument("video", metavar="VIDEO", help="video file (or folder of frames)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--fps", type=float, default=None, help="sample the video at this rate (default: every frame)")
    p.add_argument("--frames", type=int, default=None, metavar="N", help="at most N frames (default: all)")
    p.add_argument("--start", type=int, default=0, metavar="S", help="first source frame (default 0)")
    p.add_argument("--qualities", type=float, nargs="+", default=list(DEFAULT_QUALITIES),
                   help="edgecodec qualities 0..100 (default: 5 15 30 50 70 90)")
    p.add_argument("--crf", type=float, nargs="+", default=list(DEFAULT_CRFS),
                   help="x264 / x265 CRF values 0..51 (default: 45 40 35 30 25 20)")
    p.add_argument("--image-qualities", type=float, nargs="+", default=None,
                   help="JPEG / WebP qualities 0..100 (default: each codec's sweep in `edgecodec eval`)")
    p.add_argument("--codecs", nargs="+", choices=CODEC_NAMES, default=list(CODEC_NAMES),
                   help="codecs to run (default: all)")
    p.add_argument("--key-interval", type=float, default=60.0, metavar="SECONDS",
                   help="edgecodec stream: longest time between key frames (default 60)")
    p.add_argument("--chain", type=int, default=CHAIN, metavar="N",
                   help=f"edgecodec stream: delta frames reference the frame before them in chains of at most N frames back to "
                        f"the key frame (default {CHAIN}; 1: every delta frame references the key frame)")
    p.add_argument("--model", default=None, help="checkpoint path or configuration name (default: embedded)")
    p.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch", help="float transforms' runtime")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for PyTorch, x264 / x265 and WebP (default 1: single-core timings)")
    p.set_defaults(run=run)


def _check_range(values: list[float] | None, lo: float, hi: float, what: str) -> None:
    for v in values or ():
        if not lo <= v <= hi:
            raise ValueError(f"{what} must be within {lo:g}..{hi:g}, got {v:g}")


def _check_out(out: Path) -> None:
    """Refuse, before any work, an output folder that cannot take the output files."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output {out} exists and is not a folder")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"output {out}: {existing} is not a writable folder")
    for name in OUTPUT_FILES:
        if (out / name).is_dir():
            raise IsADirectoryError(f"output {out / name} is a folder")


def _plan(args: argparse.Namespace) -> Plan:
    from ..evaluation.video import Plan

    _check_range(args.qualities, 0, 100, "quality")
    _check_range(args.crf, 0, 51, "CRF")
    _check_range(args.image_qualities, 0, 100, "image quality")
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if not args.key_interval >= 0:
        raise ValueError(f"--key-interval must be >= 0 seconds, got {args.key_interval:g}")
    _check_out(Path(args.out))
    return Plan(list(dict.fromkeys(args.codecs)), args.qualities, sorted(set(args.crf), reverse=True),
                args.image_qualities, args.key_interval, args.threads, args.chain)


def _tools(codecs: list[str]) -> tuple[str, str] | None:
    from ..evaluation.ffmpeg import find_ffmpeg

    encoders = [e for e, family in (("libx264", "x264"), ("libx265", "x265"))
                if any(k.startswith(family) for k in codecs)]
    return find_ffmpeg(encoders) if encoders else None


def _report(args: argparse.Namespace, clip: Clip, plan: Plan, codec: Codec | None, tools: tuple[str, str] | None,
            results: dict, bd: dict, notes: list[str], start: float) -> dict:
    from ..evaluation.ffmpeg import ffmpeg_version
    from ..evaluation.runner import environment
    from ..evaluation.video import CONVENTIONS

    env = {**environment(), "ffmpeg": ffmpeg_version(tools[0]) if tools else None}
    model = None if codec is None else {"spec": args.model, "config": codec.model.config.name,
                                        "id": codec.model_id.hex(), "backend": args.backend}
    h, w = clip.size
    video = {"source": str(Path(args.video).resolve()), "start": args.start, "fps": clip.rate,
             "frames": len(clip.frames), "source_frames": clip.indices, "width": w, "height": h,
             "cropped_to_even": clip.cropped, "key_interval_s": plan.key_interval_s, "chain": plan.chain}
    return {"command": command_line(args), "wall_s": time.perf_counter() - start, "conventions": CONVENTIONS,
            "environment": env, "model": model, "video": video, "codecs": results, "bd": bd, "notes": notes}


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from ..evaluation.runner import json_safe
    from ..evaluation.video import EDGECODEC_KEYS, bd_table, evaluate, rd_svg, read_clip, summary_lines
    from ..imageio import write_atomic
    from ..runtime import load_codec

    start = time.perf_counter()
    plan = _plan(args)
    tools = _tools(plan.codecs)
    clip = read_clip(args.video, args.fps, args.frames, args.start)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        codec = load_codec(args.model, args.backend) if set(EDGECODEC_KEYS) & set(plan.codecs) else None
        print(f"{len(clip.frames)} frames of {clip.size[1]}x{clip.size[0]} from {args.video} "
              f"(source frames {clip.indices[0]}..{clip.indices[-1]}, {clip.rate:g} fps)")
        with tqdm(unit="frame", disable=None, file=sys.stderr) as bar:
            results, notes = evaluate(clip, plan, codec, tools, bar)
        for note in notes:
            warnings.warn(note)
        bd = bd_table(results)
        report = _report(args, clip, plan, codec, tools, results, bd, notes, start)
        svg = rd_svg(results, f"{Path(args.video).name}: {len(clip.frames)} frames at {clip.rate:g} fps")
    finally:
        torch.set_num_threads(threads_before)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "rd_psnr.svg", svg)
    write_atomic(out / "results.json", json.dumps(json_safe(report), indent=1).encode())
    print("\n".join(summary_lines(results, bd)))
    print(f"\nwrote {out}/results.json, rd_psnr.svg in {time.perf_counter() - start:.0f} s")
    return 0
