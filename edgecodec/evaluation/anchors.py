"""Published reference curves (CompressAI's Kodak result files), valid only on Kodak.

The files hold one rate-distortion curve each, averaged over the 24 Kodak images:
``{"name": ..., "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...]}}``;
paper curves may carry ``"ms-ssim-db-rgb"`` instead, or no MS-SSIM at all. The folder is
always given (``edgecodec eval --anchors DIR``); this project keeps them in
``../shared/data/anchors/compressai_kodak``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

KODAK_SIZE = {(512, 768), (768, 512)}
KODAK_NAMES = [f"kodim{i:02d}.png" for i in range(1, 25)]

# (label, file): the classical references and a few learned models (MSE-optimised).
SELECTION = (
    ("VTM", "vtm.json"),
    ("BPG (4:4:4, x265)", "bpg_444_x265_ycbcr.json"),
    ("bmshj2018-hyperprior", "compressai-bmshj2018-hyperprior_mse_cpu.json"),
    ("mbt2018-mean", "compressai-mbt2018-mean_mse_cpu.json"),
    ("cheng2020-anchor", "compressai-cheng2020-anchor_mse_cpu.json"),
    ("ELIC (paper)", "paper-elic2022_mse.json"),
)


@dataclass
class AnchorCurve:
    """One published curve; ``ms_ssim`` is None when the file has no MS-SSIM."""

    label: str
    source: str
    bpp: list[float]
    psnr: list[float]
    ms_ssim: list[float] | None


def is_kodak(names: Sequence[str], sizes: Sequence[tuple[int, int]]) -> bool:
    """True for exactly the 24 Kodak images (kodim01..24.png, 768x512 or 512x768)."""
    return sorted(names) == KODAK_NAMES and all(tuple(s) in KODAK_SIZE for s in sizes)


def _ms_ssim_values(results: dict) -> list[float] | None:
    """Linear MS-SSIM from 'ms-ssim-rgb' / 'ms-ssim', or converted from 'ms-ssim-db-rgb'."""
    for key in ("ms-ssim-rgb", "ms-ssim"):
        if key in results:
            return [float(v) for v in results[key]]
    if "ms-ssim-db-rgb" in results:
        return [1.0 - 10.0 ** (-float(v) / 10.0) for v in results["ms-ssim-db-rgb"]]
    return None


def read_anchor(path: str | Path, label: str | None = None) -> AnchorCurve:
    """Parse one CompressAI-style JSON result file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        results = data["results"]
        bpp = [float(v) for v in results["bpp"]]
        psnr = [float(v) for v in results.get("psnr-rgb", results.get("psnr"))]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a CompressAI result file ({type(e).__name__}: {e})") from None
    if len(bpp) != len(psnr):
        raise ValueError(f"{path}: bpp and PSNR lists differ in length")
    return AnchorCurve(label or str(data.get("name", path.stem)), path.name, bpp, psnr, _ms_ssim_values(results))


def load_anchors(folder: str | Path) -> list[AnchorCurve]:
    """The selected curves present in ``folder`` (missing files are left out)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"anchor folder {folder} does not exist")
    return [read_anchor(folder / name, label) for label, name in SELECTION if (folder / name).is_file()]


def ms_ssim_db(value: float) -> float:
    """MS-SSIM in dB, -10 log10(1 - MS-SSIM) (inf for a perfect score)."""
    return math.inf if value >= 1.0 else float(-10.0 * np.log10(1.0 - value))

