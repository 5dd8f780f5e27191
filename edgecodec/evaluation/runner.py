"""Measure codecs on a folder of images: real bytes, PSNR, MS-SSIM, timings, averaged curves.

Every codec, edgecodec included, goes through the same path: encode to bytes, count them
(bpp = 8 * len(bytes) / (width * height)), decode the bytes, compare with the original.
Curves are averaged per setting over the images (mean bpp, mean PSNR in dB, mean MS-SSIM:
the CompressAI convention), and BD figures are computed on those averaged curves.
"""
from __future__ import annotations

import math
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .. import codec as ecb
from ..imageio import list_images, read_image
from ..quality import ms_ssim, ms_ssim_defined, psnr_u8
from .anchors import AnchorCurve, ms_ssim_db
from .baselines import Codec, imagecodecs_version
from .bdrate import bd_psnr, bd_rate, overlap

Image = tuple[str, np.ndarray]
Tick = Callable[[], None]

CONVENTIONS = {
    "bpp": "8 * len(encoded bytes) / (width * height), from the real file (container included)",
    "psnr": "RGB, 8-bit, 10 log10(255^2 / MSE) with the MSE over all pixels and the 3 channels",
    "ms_ssim": "edgecodec.quality.ms_ssim on RGB in [0, 1] (5 scales when the image allows); "
               "ms_ssim_db = -10 log10(1 - MS-SSIM); null for images under 11 pixels wide or high "
               "(the window does not fit: undefined)",
    "averaging": "per setting, arithmetic mean over images of bpp, PSNR (dB) and MS-SSIM (CompressAI convention); "
                 "MS-SSIM over the images where it is defined (null when it is defined for none)",
    "bd": "Bjontegaard delta on the averaged curves, PCHIP (piecewise cubic Hermite) interpolation of "
          "log(bpp) vs PSNR, integrated exactly over the overlapping PSNR range; negative BD-rate: "
          "edgecodec needs fewer bits than the reference",
    "timing": "wall seconds per image of one encode / decode call on bytes in memory, after one warm-up",
}


def list_eval_images(folder: str | Path, limit: int = 0) -> list[Path]:
    """Sorted image files directly inside ``folder`` (the first ``limit`` when > 0)."""
    files = list_images(folder)
    if limit < 0:
        raise ValueError(f"--images must be >= 0, got {limit}")
    return files[:limit] if limit else files


def load_images(paths: Sequence[Path]) -> list[Image]:
    """(file name, uint8 RGB) for every path; unreadable files raise a one-line ValueError."""
    return [(p.name, read_image(p)) for p in paths]


def edgecodec_codec(ecb_codec: ecb.Codec, qualities: Sequence[float]) -> Codec:
    """Wrap a loaded edgecodec codec (edgecodec.runtime.load_codec) as an evaluated Codec over ``qualities``."""
    for q in qualities:
        if not 0 <= q <= 100:
            raise ValueError(f"quality must be within 0..100, got {q:g}")
    return Codec("edgecodec", "edgecodec", "quality", sorted(dict.fromkeys(float(q) for q in qualities)),
                 ecb_codec.encode, ecb_codec.decode,
                 f"model {ecb_codec.model.config.name} ({ecb_codec.model_id.hex()})")


def _ms_ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM of two uint8 RGB images; None where it is undefined (an image smaller than its window)."""
    if not ms_ssim_defined(*a.shape[:2]):
        return None

    def t(x):
        return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float() / 255.0

    with torch.no_grad():
        return float(ms_ssim(t(a), t(b))[0])


def measure(codec: Codec, name: str, image: np.ndarray, setting: float) -> tuple[dict, np.ndarray]:
    """Encode, decode and score one image at one setting: (record, decoded image)."""
    t0 = time.perf_counter()
    data = codec.encode(image, setting)
    t1 = time.perf_counter()
    decoded = codec.decode(data)
    t2 = time.perf_counter()
    if decoded.shape != image.shape:
        raise RuntimeError(f"{codec.label} decoded {name} to {decoded.shape}, expected {image.shape}")
    h, w = image.shape[:2]
    record = {"image": name, "bytes": len(data), "bpp": 8 * len(data) / (h * w), "psnr": psnr_u8(image, decoded),
              "ms_ssim": _ms_ssim(image, decoded), "encode_s": t1 - t0, "decode_s": t2 - t1}
    return record, decoded


def _mean(records: list[dict], key: str) -> float | None:
    """Mean of ``key`` over the records where it is defined (not None); None when it is nowhere."""
    values = [r[key] for r in records if r[key] is not None]
    return float(np.mean(values)) if values else None


def evaluate_codec(codec: Codec, images: Sequence[Image], tick: Tick | None = None) -> dict:
    """Every image at every setting of ``codec``: per-image records and per-setting means."""
    measure(codec, *images[0], codec.settings[len(codec.settings) // 2])  # warm-up, not timed
    points = []
    for setting in codec.settings:
        records = []
        for name, image in images:
            records.append(measure(codec, name, image, setting)[0])
            if tick:
                tick()
        mean = {k: _mean(records, k) for k in ("bpp", "psnr", "ms_ssim", "encode_s", "decode_s")}
        msdb = None if mean["ms_ssim"] is None else ms_ssim_db(mean["ms_ssim"])
        points.append({"setting": setting, **mean, "ms_ssim_db": msdb, "images": records})
    return {"label": codec.label, "parameter": codec.parameter, "description": codec.description,
            "versions": codec.versions, "points": points}


def curve(result: dict) -> dict[str, list[float]]:
    """Averaged curve of an evaluate_codec result: bpp, psnr, ms_ssim_db lists."""
    return {k: [p[k] for p in result["points"]] for k in ("bpp", "psnr", "ms_ssim_db")}


def anchor_curve(anchor: AnchorCurve) -> dict[str, list[float] | None]:
    """The same lists for a published anchor (ms_ssim_db None when the file has none)."""
    msdb = None if anchor.ms_ssim is None else [ms_ssim_db(v) for v in anchor.ms_ssim]
    return {"bpp": anchor.bpp, "psnr": anchor.psnr, "ms_ssim_db": msdb}


MIN_OVERLAP_DB = 0.5  # BD-rate over a narrower common quality range is not reported


def bd_against(test: dict, reference: dict) -> dict[str, Any]:
    """BD-rate (PSNR and MS-SSIM dB) and BD-PSNR of ``test`` against ``reference`` curves."""
    out: dict[str, Any] = {
        "bd_rate_psnr_pct": bd_rate(reference["bpp"], reference["psnr"], test["bpp"], test["psnr"],
                                    min_overlap=MIN_OVERLAP_DB),
        "bd_psnr_db": bd_psnr(reference["bpp"], reference["psnr"], test["bpp"], test["psnr"]),
        "psnr_overlap_db": overlap(reference["psnr"], test["psnr"]),
        "bpp_overlap": overlap(reference["bpp"], test["bpp"]),
        "bd_rate_msssim_pct": None,
    }
    if reference.get("ms_ssim_db") is not None:
        out["bd_rate_msssim_pct"] = bd_rate(reference["bpp"], reference["ms_ssim_db"], test["bpp"], test["ms_ssim_db"],
                                            min_overlap=MIN_OVERLAP_DB)
    return out


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, Any]:
    """Machine and library versions for results.json."""
    return {
        "platform": platform.platform(), "machine": platform.machine(), "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__, "edgecodec": _package_version("edgecodec"),
        "matplotlib": _package_version("matplotlib"), "imagecodecs": imagecodecs_version(),
    }


def json_safe(value: Any) -> Any:
    """Replace non-finite floats (lossless PSNR) by None and tuples by lists, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return json_safe(value.item())
    return value
