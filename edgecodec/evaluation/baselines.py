"""Classical image codecs through ``imagecodecs``, behind one small interface.

Every codec is swept over its own quality parameter, chosen to span roughly 0.1..2 bpp
on Kodak-like photos:

- JPEG: libjpeg-turbo (``jpeg8_encode``), quality 5..95, its defaults: 4:2:0 chroma
  subsampling, baseline Huffman tables (not optimised), no smoothing.
- WebP: libwebp lossy (``lossless=False``: the lossless mode is imagecodecs' default),
  quality 0..95, ``method=6`` (slowest, best).
- AVIF: libavif (AUTO encoder, libaom in the PyPI build), quality 10..85, ``speed=4``,
  imagecodecs' default pixel format (YUV 4:4:4).
- JPEG XL: libjxl, Butteraugli distance 12..0.5 (its native quality knob), ``effort=7``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

Encoder = Callable[[np.ndarray, float], bytes]
Decoder = Callable[[bytes], np.ndarray]


@dataclass
class Codec:
    """A named codec: ``encode(rgb_uint8, setting) -> bytes``, ``decode(bytes) -> rgb_uint8``.

    ``settings`` are ordered from the lowest to the highest rate.
    """

    key: str
    label: str
    parameter: str
    settings: list[float]
    encode: Encoder
    decode: Decoder
    description: str = ""
    versions: dict[str, str] = field(default_factory=dict)


BASELINE_NAMES = ("jpeg", "webp", "avif", "jxl")

_SETTINGS = {
    "jpeg": [5, 10, 20, 35, 50, 65, 80, 90, 95],
    "webp": [0, 5, 15, 30, 50, 70, 85, 95],
    "avif": [10, 20, 30, 40, 50, 60, 70, 80, 85],
    "jxl": [12.0, 8.0, 5.0, 3.0, 2.0, 1.4, 1.0, 0.7, 0.5],
}


def _rgb(image: np.ndarray) -> np.ndarray:
    """Decoded array -> contiguous uint8 (H, W, 3)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.dtype != np.uint8 or image.shape[2] < 3:
        raise ValueError(f"unexpected decoded image {image.dtype} {image.shape}")
    return np.ascontiguousarray(image[:, :, :3])


def _make(key: str, ic, threads: int) -> Codec:
    """The Codec object for one baseline (assumes the imagecodecs codec is available)."""
    settings = list(_SETTINGS[key])
    if key == "jpeg":
        return Codec(key, "JPEG", "quality", settings,
                     lambda x, q: bytes(ic.jpeg8_encode(x, level=int(q))), lambda b: _rgb(ic.jpeg8_decode(b)),
                     "libjpeg-turbo via imagecodecs.jpeg8_encode, 4:2:0, default Huffman tables",
                     {"libjpeg-turbo": ic.jpeg8_version()})
    if key == "webp":
        return Codec(key, "WebP", "quality", settings,
                     lambda x, q: bytes(ic.webp_encode(x, level=float(q), lossless=False, method=6,
                                                       numthreads=threads)),
                     lambda b: _rgb(ic.webp_decode(b)),
                     "libwebp lossy, method 6", {"libwebp": ic.webp_version()})
    if key == "avif":
        return Codec(key, "AVIF", "quality", settings,
                     lambda x, q: bytes(ic.avif_encode(x, level=int(q), speed=4, numthreads=threads)),
                     lambda b: _rgb(ic.avif_decode(b, numthreads=threads)),
                     "libavif (AUTO encoder), speed 4, YUV 4:4:4 (imagecodecs default)",
                     {"libavif": ic.avif_version()})
    if key == "jxl":
        return Codec(key, "JPEG XL", "distance", settings,
                     lambda x, d: bytes(ic.jpegxl_encode(x, distance=float(d), effort=7, numthreads=threads)),
                     lambda b: _rgb(ic.jpegxl_decode(b, numthreads=threads)),
                     "libjxl, effort 7, swept over Butteraugli distance", {"libjxl": ic.jpegxl_version()})
    raise ValueError(f"unknown baseline {key!r} (choose from {', '.join(BASELINE_NAMES)})")


_AVAILABILITY = {"jpeg": "JPEG8", "webp": "WEBP", "avif": "AVIF", "jxl": "JPEGXL"}


def load_baselines(names: Sequence[str], threads: int = 1) -> tuple[list[Codec], list[str]]:
    """The requested codecs that this installation can run, and one notice per skipped codec."""
    unknown = [n for n in names if n not in BASELINE_NAMES]
    if unknown:
        raise ValueError(f"unknown baseline {unknown[0]!r} (choose from {', '.join(BASELINE_NAMES)})")
    try:
        import imagecodecs as ic
    except ImportError:
        return [], [f"{n}: skipped, the imagecodecs package is not installed (pip install "
                    f"'edgecodec[eval]')" for n in names]
    codecs, notices = [], []
    for name in dict.fromkeys(names):
        flag = getattr(ic, _AVAILABILITY[name], None)
        if flag is None or not getattr(flag, "available", False):
            notices.append(f"{name}: skipped, not available in this imagecodecs build ({ic.__version__})")
            continue
        codecs.append(_make(name, ic, threads))
    return codecs, notices


def imagecodecs_version() -> str:
    """imagecodecs' version string with its libraries' versions, or 'not installed'."""
    try:
        import imagecodecs
    except ImportError:
        return "not installed"
    return str(imagecodecs.version())
