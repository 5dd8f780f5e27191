"""What the demo's stream is compared with, on the same frames: edgecodec intra, JPEG and x264.

- edgecodec intra: every frame coded as a key frame at the stream's quality (bitrate only).
- JPEG at the same PSNR: per frame, the smallest OpenCV JPEG (quality searched by bisection)
  whose PSNR reaches that frame's PSNR in the stream.
- x264 at the same PSNR: ``-preset veryfast -tune zerolatency`` with a key frame every 2 s
  (``evaluation.ffmpeg``, a camera's real-time setting) over the whole clip; the largest
  integer CRF whose mean PSNR reaches the stream's (bisection over 0..51), and the bitrate
  interpolated in log-rate between it and the next CRF to the stream's PSNR exactly.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..quality import psnr_u8

X264_KEY = "x264-zerolatency"
MAX_CRF = 51


def intra_kbit_s(frames: Sequence[np.ndarray], quality: float, model: str | None, fps: float) -> float:
    """Bitrate of the frames coded as key frames at ``quality``."""
    from ..runtime import load_codec

    codec = load_codec(model)
    return 8 * sum(len(codec.encode(f, quality)) for f in frames) * fps / len(frames) / 1000


def jpeg_size_at_psnr(bgr: np.ndarray, target: float) -> int:
    """Bytes of the smallest JPEG (quality 1..100, binary search) whose PSNR reaches ``target``."""
    lo, hi, best = 1, 100, None
    while lo <= hi:
        q = (lo + hi) // 2
        data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q])[1]
        if psnr_u8(bgr, cv2.imdecode(data, cv2.IMREAD_COLOR)) >= target:
            best, hi = len(data), q - 1
        else:
            lo = q + 1
    return best if best is not None else len(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])[1])


def jpeg_kbit_s(frames: Sequence[np.ndarray], psnr: Sequence[float], fps: float) -> float:
    """Bitrate of JPEG at each frame's PSNR (RGB frames)."""
    sizes = [jpeg_size_at_psnr(np.ascontiguousarray(f[:, :, ::-1]), p) for f, p in zip(frames, psnr, strict=True)]
    return 8 * sum(sizes) * fps / len(frames) / 1000


def x264_at_psnr(frames: Sequence[np.ndarray], fps: float, target: float) -> dict:
    """{"kbit_s", "crf", "label"} of x264 at the stream's mean PSNR, or {"note"} saying why there is none."""
    from ..evaluation import ffmpeg
    from ..evaluation.video import Clip, run_video_codec

    try:
        tools = ffmpeg.find_ffmpeg(("libx264",))
    except (FileNotFoundError, RuntimeError) as e:
        return {"note": str(e)}
    h, w = frames[0].shape[:2]
    clip = Clip([np.ascontiguousarray(f[:h - h % 2, :w - w % 2]) for f in frames], fps, list(range(len(frames))),
                h % 2 or w % 2)
    probes: dict[int, dict] = {}
    with ffmpeg.workdir() as tmp:
        def probe(crf: int) -> dict:
            if crf not in probes:
                codec = next(c for c in ffmpeg.video_codecs(fps, [crf]) if c.key == X264_KEY)
                probes[crf] = run_video_codec(codec, clip, 1, tools, Path(tmp))["points"][0] | {"label": codec.label}
            return probes[crf]

        lo, hi = 0, MAX_CRF  # the largest CRF whose PSNR reaches the target (PSNR falls as CRF rises)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if probe(mid)["psnr"] >= target else (lo, mid - 1)
        above, below = probe(lo), probe(min(lo + 1, MAX_CRF))
    if above["psnr"] < target:
        return {"note": f"x264 does not reach {target:.2f} dB even at CRF 0"}
    kbit_s = above["kbit_s"]
    if below["psnr"] < target < above["psnr"]:
        t = (target - below["psnr"]) / (above["psnr"] - below["psnr"])
        kbit_s = math.exp(math.log(below["kbit_s"]) + t * (math.log(above["kbit_s"]) - math.log(below["kbit_s"])))
    return {"kbit_s": kbit_s, "crf": lo, "label": above["label"], "probes": len(probes)}
