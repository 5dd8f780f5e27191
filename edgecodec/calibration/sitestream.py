"""The site's clip coded as the daemon will stream it, and x264 as a camera would code it, on the same frames.

edgecodec: a StreamEncoder with the daemon's policy over the clip in capture order, every frame
decoded back by a StreamDecoder on the server's model (real bytes, RGB PSNR per frame).
x264: ``-preset veryfast -tune zerolatency`` with a key frame every 2 s (a camera's real-time
setting, ``evaluation.ffmpeg``), swept over CRF; without ffmpeg the result says why.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..codec.facade import Codec
from ..codec.stream import StreamDecoder, StreamEncoder, StreamPolicy
from ..quality import psnr_u8

Tick = Callable[[], None]
X264_KEY = "x264-zerolatency"


@dataclass
class CodedClip:
    """One quality over the clip: bytes, kind (KEY / DELTA) and PSNR per frame."""

    quality: float
    sizes: list[int]
    kinds: list[int]
    psnr: list[float]

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr))


def policy(key_interval_s: float, fps: float, scene_change: float, intra: bool, chain: int) -> StreamPolicy:
    """The daemon's policy at this frame rate (its key interval is capture time; here, frames)."""
    return StreamPolicy(key_interval=round(key_interval_s * fps), scene_change=scene_change, intra=intra,
                        chain=chain)


def code_clip(encoder: Codec, server: Codec, images: Sequence[np.ndarray], quality: float,
              stream_policy: StreamPolicy, tick: Tick = lambda: None) -> CodedClip:
    """Stream the clip at ``quality``; every frame decoded by the server's side."""
    enc, dec = StreamEncoder(encoder, quality, stream_policy), StreamDecoder(server)
    sizes, kinds, psnr = [], [], []
    for image in images:
        frame = enc.encode(image)
        sizes.append(len(frame.data))
        kinds.append(frame.kind)
        psnr.append(psnr_u8(image, dec.decode(frame.data)))
        tick()
    return CodedClip(float(quality), sizes, kinds, psnr)


def x264_curve(images: Sequence[np.ndarray], fps: float, crfs: Sequence[float] | None = None) -> dict:
    """x264 veryfast zerolatency (GOP 2 s) over the frames: {"available", "label", "points"} or the reason."""
    from ..evaluation import ffmpeg
    from ..evaluation.video import Clip, run_video_codec

    try:
        tools = ffmpeg.find_ffmpeg(("libx264",))
    except (FileNotFoundError, RuntimeError) as e:
        return {"available": False, "reason": str(e)}
    codec = next(c for c in ffmpeg.video_codecs(fps, crfs) if c.key == X264_KEY)
    clip = Clip(list(images), fps, list(range(len(images))), False)
    with ffmpeg.workdir() as tmp:
        result = run_video_codec(codec, clip, 1, tools, Path(tmp))
    points = [{k: p[k] for k in ("setting", "kbit_s", "bpp", "psnr", "key_frames")} for p in result["points"]]
    return {"available": True, "label": codec.label, "description": result["description"],
            "version": ffmpeg.ffmpeg_version(tools[0]), "points": points}
