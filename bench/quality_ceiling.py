"""Where the intra model's quality ceiling comes from: coding, quantisation, or the transforms.

    python bench/quality_ceiling.py ../shared/data/kodak --images 8
        per quality: PSNR of the coded file, of the synthesis of round(y) and of the synthesis
        of the unquantised latent y (what the transforms can do at all)
    python bench/quality_ceiling.py ../shared/data/kodak/kodim05.png --fit 150
        fits a copy's analysis and synthesis to one 256x256 crop (MSE with uniform noise), at the
        top level alone and alternating top and bottom levels: capacity, or levels pulling apart

docs/RESULTS.md section 4 ("The quality ceiling") has the numbers and what they say.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgecodec.codec.facade import Codec, tensor_to_image  # noqa: E402
from edgecodec.imageio import read_image  # noqa: E402
from edgecodec.quality import psnr_u8  # noqa: E402

CROP = 256


def ceiling_row(codec: Codec, image: np.ndarray, quality: float) -> tuple[float, float, float, float]:
    """(PSNR coded, PSNR synthesis(round(y)), PSNR synthesis(y), bpp) of one image."""
    model, (h, w) = codec.model, image.shape[:2]
    with torch.inference_mode():
        a = codec.analyse(image, quality)
        level = codec._level(quality)
        z_bytes, y_bytes, latent = model.code_latent(a.y, a.z)
        images = [model.reconstruct(y, level) for y in (latent.y_hat, torch.round(a.y.double()), a.y)]
    coded, rounded, unquantised = (psnr_u8(image, tensor_to_image(x, h, w)) for x in images)
    return coded, rounded, unquantised, (len(z_bytes) + len(y_bytes)) * 8 / (h * w)


def fit(codec: Codec, image: np.ndarray, levels: list[float], steps: int, lr: float = 1e-4) -> list[float]:
    """PSNR at the top level of one centre crop, every 25 steps of fitting a copy's analysis and
    synthesis to it, the steps cycling through ``levels``."""
    model = copy.deepcopy(codec.model).float().train()
    h, w = image.shape[:2]
    top, left = max(0, (h - CROP) // 2), max(0, (w - CROP) // 2)
    x = torch.from_numpy(image[top:top + CROP, left:left + CROP].copy()).permute(2, 0, 1)[None].float() / 255
    opt = torch.optim.Adam([*model.analysis.parameters(), *model.synthesis.parameters()], lr=lr)
    top_level = torch.tensor([float(model.config.quality_levels - 1)])

    def psnr() -> float:
        with torch.no_grad():
            gain, inverse = model.gain(top_level)
            x_hat = model.synthesis(torch.round(model.analysis(x) * gain) * inverse).clamp(0, 1)
            return float(-10 * torch.log10((x_hat - x).pow(2).mean()))

    trace = [psnr()]
    for step in range(steps):
        gain, inverse = model.gain(torch.tensor([levels[step % len(levels)]]))
        y = model.analysis(x) * gain
        loss = (model.synthesis((y + torch.rand_like(y) - 0.5) * inverse) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 25 == 0:
            trace.append(psnr())
    return trace


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path, help="a folder of PNG photos, or one photo with --fit")
    p.add_argument("--images", type=int, default=8, help="first N photos of the folder (default 8)")
    p.add_argument("--qualities", type=float, nargs="+", default=[50.0, 100.0])
    p.add_argument("--fit", type=int, default=0, metavar="STEPS", help="run the fitting test instead")
    p.add_argument("--model", default=None, help="checkpoint (default: the embedded model)")
    args = p.parse_args(argv)
    from edgecodec.runtime import load_codec

    torch.set_num_threads(1)
    torch.manual_seed(0)
    try:
        codec = load_codec(args.model)
        if args.fit:
            image = read_image(args.source)
            bottom, top = 0.0, float(codec.model.config.quality_levels - 1)
            for name, levels in (("top level alone", [top]), ("top and bottom levels", [top, bottom])):
                trace = fit(codec, image, levels, args.fit)
                print(f"{name}: PSNR every 25 steps " + " ".join(f"{v:.2f}" for v in trace))
            return 0
        files = sorted(args.source.glob("*.png"))[:args.images]
        if not files:
            raise ValueError(f"no PNG photos in {args.source}")
        for q in args.qualities:
            coded, rounded, unquantised, bpp = np.mean([ceiling_row(codec, read_image(f), q) for f in files], 0)
            print(f"quality {q:g}: coded {coded:.2f} dB at {bpp:.3f} bpp, synthesis of round(y) {rounded:.2f} dB, "
                  f"of the unquantised y {unquantised:.2f} dB ({len(files)} photos)")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
