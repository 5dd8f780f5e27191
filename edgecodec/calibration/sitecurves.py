"""Real-bytes rate-distortion on the site's frames: any encoder, decoded by the server's model; and JPEG.

Every edgecodec point is a real round trip: ``codec.encode`` with the encoder under test
(float, int8 or adapted: they share the server's model id), ``codec.decode`` with the
server's unchanged model. bpp = 8 * bytes / pixels; PSNR is RGB, 8-bit; a curve averages
bpp and PSNR over the frames per setting (the convention of ``edgecodec eval``).
JPEG is OpenCV's encoder (libjpeg, 4:2:0, default tables), as a Jetson's OpenCV has it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from .. import codec
from ..codec.models.conditional import ConditionalEntropy
from ..codec.models.dkic import DKIC
from ..evaluation.bdrate import bd_rate
from ..quality import psnr_u8

JPEG_QUALITIES = (5, 10, 20, 35, 50, 65, 80, 90, 95)
Tick = Callable[[], None]


@dataclass
class Point:
    """One setting averaged over frames, with the per-frame byte counts."""

    setting: float
    bpp: float
    psnr: float
    sizes: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"setting": self.setting, "bpp": self.bpp, "psnr": self.psnr, "bytes": self.sizes}


def bpp(size: int, image: np.ndarray) -> float:
    """Bits per pixel of ``size`` bytes for ``image``."""
    return 8.0 * size / (image.shape[0] * image.shape[1])


def codecs(encoder: DKIC, server: DKIC,
           conditional: ConditionalEntropy | None = None) -> tuple[codec.Codec, codec.Codec]:
    """The encoder under test and the server's decoder (with the conditional model for delta frames);
    ValueError if their model ids differ."""
    pair = codec.Codec(encoder, conditional=conditional), codec.Codec(server, conditional=conditional)
    if pair[0].model_id != pair[1].model_id:
        raise ValueError("the encoder under test does not write files for the server's model")
    return pair


def round_trip(encoder: codec.Codec, server: codec.Codec, image: np.ndarray,
               quality: float) -> tuple[bytes, np.ndarray]:
    """(bytes written by ``encoder``, the image ``server`` decodes from them)."""
    data = encoder.encode(image, quality)
    return data, server.decode(data)


def edgecodec_curve(encoder: DKIC, server: DKIC, images: list[np.ndarray], qualities: list[float],
                    tick: Tick = lambda: None) -> list[Point]:
    """The averaged R-D points of ``encoder`` at each quality."""
    points, (enc, dec) = [], codecs(encoder, server)
    for q in qualities:
        sizes, psnrs, rates = [], [], []
        for image in images:
            data, decoded = round_trip(enc, dec, image, q)
            sizes.append(len(data))
            rates.append(bpp(len(data), image))
            psnrs.append(psnr_u8(image, decoded))
            tick()
        points.append(Point(float(q), float(np.mean(rates)), float(np.mean(psnrs)), sizes))
    return points


def jpeg_encode(image: np.ndarray, quality: int) -> bytes:
    """RGB uint8 -> JPEG bytes (OpenCV)."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def jpeg_decode(data: bytes) -> np.ndarray:
    """JPEG bytes -> RGB uint8."""
    return np.ascontiguousarray(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1])


def jpeg_curve(images: list[np.ndarray], qualities: tuple[int, ...] = JPEG_QUALITIES) -> list[Point]:
    """The averaged R-D points of JPEG at each quality."""
    points = []
    for q in qualities:
        coded = [jpeg_encode(image, q) for image in images]
        rates = [bpp(len(d), im) for d, im in zip(coded, images, strict=True)]
        psnrs = [psnr_u8(im, jpeg_decode(d)) for d, im in zip(coded, images, strict=True)]
        points.append(Point(float(q), float(np.mean(rates)), float(np.mean(psnrs)), [len(d) for d in coded]))
    return points


def jpeg_at_size(image: np.ndarray, target: int) -> tuple[int, bytes]:
    """(quality, bytes) of the JPEG whose size is closest to ``target`` bytes (binary search over 1..100)."""
    lo, hi = 1, 100
    while lo < hi:  # smallest quality whose size reaches the target
        mid = (lo + hi) // 2
        if len(jpeg_encode(image, mid)) < target:
            lo = mid + 1
        else:
            hi = mid
    candidates = [(q, jpeg_encode(image, q)) for q in {max(lo - 1, 1), lo}]
    return min(candidates, key=lambda c: (abs(len(c[1]) - target), c[0]))


def bd_rate_of(anchor: list[Point], test: list[Point]) -> float | None:
    """BD-rate (%) of ``test`` against ``anchor`` (negative: fewer bits at equal PSNR); None without overlap."""
    return bd_rate([p.bpp for p in anchor], [p.psnr for p in anchor], [p.bpp for p in test], [p.psnr for p in test])
