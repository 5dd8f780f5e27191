"""Two `edgecodec eval` runs against each other (e.g. an ablation): BD figures and timings of their edgecodec curves."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..codec.models.config import is_finite_number
from .plots import Series, rd_plot
from .runner import MIN_OVERLAP_DB, bd_against, curve


def _valid_point(p: object) -> bool:
    """An averaged point as `edgecodec eval` writes it (PSNR / MS-SSIM dB null: lossless or undefined)."""
    return (isinstance(p, dict) and is_finite_number(p.get("bpp")) and p["bpp"] > 0
            and all(k in p and (p[k] is None or is_finite_number(p[k])) for k in ("psnr", "ms_ssim_db"))
            and all(is_finite_number(p.get(k)) and p[k] >= 0 for k in ("encode_s", "decode_s")))


def edgecodec_result(path: str) -> dict:
    """The edgecodec curve of a results.json, checked whole (one ValueError naming the file)."""
    bad = f"{path} is not a results.json written by `edgecodec eval`"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        result = dict(data["codecs"]["edgecodec"], image_names=list(data["images"]["names"]))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except (ValueError, KeyError, TypeError):  # ValueError: not JSON, not UTF-8, not a dict
        raise ValueError(bad) from None
    points = result.get("points")
    if not isinstance(points, list) or not points:
        raise ValueError(f"{bad} (no edgecodec points)")
    if not all(_valid_point(p) for p in points):
        raise ValueError(f"{bad} (an edgecodec point lacks a valid bpp, PSNR, MS-SSIM dB or timing)")
    return result


def check_plot_path(path: str) -> None:
    """Refuse, before any work, a plot output that is not an .svg/.png file in a writable folder."""
    out = Path(path)
    if out.suffix.lower() not in (".svg", ".png"):
        raise ValueError(f"--plot {path}: the name must end in .svg or .png")
    if out.is_dir():
        raise IsADirectoryError(f"--plot {path} is a folder")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--plot {path}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise PermissionError(f"--plot {path}: folder {out.parent} is not writable")


def same_images(ref: dict, test: dict) -> None:
    """BD-rate needs both runs on the same images."""
    if ref["image_names"] != test["image_names"]:
        raise ValueError("the two runs evaluated different images; BD-rate needs the same set")


def compare_plot(runs: dict[str, tuple[str, dict]], fmt: str) -> bytes:
    """The runs' edgecodec PSNR curves in one R-D plot, by role (reference solid, test dashed)."""
    series = [Series(f"{role}: {path}", curve(r)["bpp"], curve(r)["psnr"], "edgecodec")
              for role, (path, r) in runs.items()]
    images = len(next(iter(runs.values()))[1]["image_names"])
    return rd_plot(series, "PSNR RGB (dB)", f"edgecodec compare: {images} images", fmt=fmt)


def compare_lines(ref: dict, test: dict) -> list[str]:
    """BD-rate (PSNR and MS-SSIM) and BD-PSNR of ``test`` against ``ref``, and both mean timings."""
    bd: dict[str, Any] = bd_against(curve(test), curve(ref))

    def fmt(value: float | None, unit: str) -> str:
        return f"n/a (overlap < {MIN_OVERLAP_DB:g} dB)" if value is None else f"{value:+.2f}{unit}"

    def mean(r: dict, key: str) -> float:
        return sum(p[key] for p in r["points"]) / len(r["points"])

    lines = [f"BD-rate (PSNR) {fmt(bd['bd_rate_psnr_pct'], ' %')} | BD-PSNR {fmt(bd['bd_psnr_db'], ' dB')} | "
             f"BD-rate (MS-SSIM) {fmt(bd['bd_rate_msssim_pct'], ' %')}"]
    lines += [f"mean {name} time: {mean(test, key) * 1e3:.0f} ms vs {mean(ref, key) * 1e3:.0f} ms"
              for key, name in (("encode_s", "encode"), ("decode_s", "decode"))]
    return lines
