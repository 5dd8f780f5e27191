"""Measure what the checkerboard spatial context buys in each latent slice (the asymmetry decision).

For every slice with spatial context, the anchor pass's parameters are exactly the
parameters without spatial context (the aggregation network sees zeros there), so the
non-anchor half can be priced both ways on the same model:

    gain_i = bits(non-anchors | anchor-pass params) - bits(non-anchors | spatial params)

Bits are estimated from the discretised Gaussian of the integer scale index and mean
(the frozen integer model), on real images. Usage:

    python bench/spatial_context.py [--model CKPT] [--quality 50 ...] [FOLDER]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgecodec.checkpoint import load_model  # noqa: E402
from edgecodec import codec  # noqa: E402
from edgecodec.codec.entropy import gaussian  # noqa: E402
from edgecodec.codec.models.config import quality_to_level  # noqa: E402
from edgecodec.codec.models.context import MEAN_UNIT  # noqa: E402
from edgecodec.imageio import read_image  # noqa: E402
from edgecodec.imageio import list_images  # noqa: E402


@torch.no_grad()
def slice_bits(model, image, quality: float) -> dict[int, dict[str, float]]:
    """Per slice: bits of anchors, of non-anchors with and without spatial context, symbol count."""
    x = codec.image_to_tensor(image)
    level = quality_to_level(quality, model.config.quality_levels)
    y = model.analysis(x) * model.gain(torch.tensor([level]))[0]
    hyper = model.hyper_synthesis(torch.round(model.hyper_analysis(y)).double())
    y = y.double()
    out: dict[int, dict[str, float]] = {}

    def resolve(i, mask, index, mean):
        lo = sum(model.context.slices[:i])
        residual = y[:, lo:lo + model.context.slices[i]] - mean / MEAN_UNIT
        s = torch.round(residual)
        bits = -torch.log2(gaussian.likelihood(s, gaussian.scale_from_index(index)))
        rec = out.setdefault(i, {})
        full = torch.ones_like(s, dtype=torch.bool) if mask is None else mask.expand_as(s)
        if mask is None:
            rec["all"] = float(bits.sum())
        elif "anchors" not in rec:  # first pass: anchor-pass parameters everywhere
            rec["anchors"] = float(bits[full].sum())
            rec["rest_without"] = float(bits[~full].sum())
        else:
            rec["rest_with"] = float(bits[full].sum())
        rec["symbols"] = rec.get("symbols", 0) + int(full.sum())
        return s

    model.context.code(hyper, resolve)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared/data/kodak"))
    ap.add_argument("--model", default=None)
    ap.add_argument("--quality", type=float, nargs="+", default=[10.0, 50.0, 90.0])
    args = ap.parse_args()
    model = load_model(args.model)
    files = list_images(args.folder)
    print(f"model {model.config.name}, {len(files)} images; bits per image, summed over images")
    print(f"{'q':>5} {'slice':>5} {'ch':>4} {'anchors':>10} {'rest w/o':>10} {'rest with':>10} {'gain %':>7}")
    for q in args.quality:
        total: dict[int, dict[str, float]] = {}
        for path in files:
            for i, rec in slice_bits(model, read_image(path), q).items():
                agg = total.setdefault(i, {})
                for k, v in rec.items():
                    agg[k] = agg.get(k, 0.0) + v
        for i, rec in sorted(total.items()):
            ch = model.config.slices[i]
            if "rest_with" in rec:
                gain = 100 * (rec["rest_without"] - rec["rest_with"]) / max(rec["rest_without"], 1e-9)
                print(f"{q:>5.0f} {i:>5} {ch:>4} {rec['anchors'] / len(files):>10.0f} "
                      f"{rec['rest_without'] / len(files):>10.0f} {rec['rest_with'] / len(files):>10.0f} {gain:>7.1f}")
            else:
                print(f"{q:>5.0f} {i:>5} {ch:>4} {rec['all'] / len(files):>10.0f} {'(no spatial context)':>29}")


if __name__ == "__main__":
    main()
