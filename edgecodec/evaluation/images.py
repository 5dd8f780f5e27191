"""`edgecodec eval`: every image of a folder through edgecodec and the classical codecs (real bytes), BD figures
against each and against published anchors, R-D plots, the equal-bpp visual comparison and results.json."""
from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from ..imageio import encode_png, write_atomic
from ..runtime import load_codec
from .anchors import AnchorCurve, is_kodak, load_anchors
from .baselines import Codec, load_baselines
from .plots import Series, crop_files, rd_plot, visual_grid, visual_tiles
from .runner import (CONVENTIONS, MIN_OVERLAP_DB, Image, anchor_curve, bd_against, curve, edgecodec_codec,
                     environment, evaluate_codec, json_safe, list_eval_images, load_images)

DEFAULT_QUALITIES = (5.0, 15.0, 30.0, 50.0, 70.0, 90.0)
OUTPUT_FILES = ("rd_psnr.png", "rd_msssim.png", "visual.png", "results.json")


@dataclass(frozen=True)
class EvalOptions:
    """What `edgecodec eval` was asked (its flags), and the command line that reproduces it."""

    folder: str
    model: Optional[str]
    backend: str
    qualities: list[float]
    baselines: list[str]
    out: Path
    anchors: Optional[str]
    images: int
    plot_crops: bool
    threads: int
    command: str = ""


def check_out(out: Path, crops: bool) -> None:
    """Refuse, before any work, an output folder that cannot take every output file."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output {out} exists and is not a folder")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise NotADirectoryError(f"output {out}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"output {out}: {existing} is not writable")
    for name in OUTPUT_FILES:
        if (out / name).is_dir():
            raise IsADirectoryError(f"output {out / name} is a folder")
    if crops and (out / "crops").exists() and not (out / "crops").is_dir():
        raise NotADirectoryError(f"output {out / 'crops'} (for --plot-crops) exists and is not a folder")


def check_options(opts: EvalOptions) -> list[Path]:
    """The images to evaluate; every refusal before any work."""
    files = list_eval_images(opts.folder, opts.images)
    for q in opts.qualities:
        if not 0 <= q <= 100:
            raise ValueError(f"quality must be within 0..100, got {q:g}")
    if opts.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {opts.threads}")
    check_out(opts.out, opts.plot_crops)
    if opts.anchors and not Path(opts.anchors).is_dir():
        raise FileNotFoundError(f"anchor folder {opts.anchors} does not exist")
    return files


def select_anchors(opts: EvalOptions, images: list[Image]) -> tuple[list[AnchorCurve], str]:
    """Published curves when the images are the full Kodak set, and the sentence saying so."""
    if not opts.anchors:
        return [], "anchors: none (--anchors DIR draws published Kodak curves)"
    folder = Path(opts.anchors)
    if not is_kodak([n for n, _ in images], [im.shape[:2] for _, im in images]):
        return [], ("anchors: not used -- the published curves are averages over the 24 Kodak images "
                    f"and are valid only for that set; this run has {len(images)} image(s) from {opts.folder}")
    curves = load_anchors(folder)
    return curves, (f"anchors: {len(curves)} published Kodak curves from {folder} "
                    "(valid because DIR is the full Kodak set)")


def bd_table(results: dict, anchors: list[AnchorCurve]) -> dict[str, dict]:
    """BD figures of edgecodec against every other codec and anchor."""
    test = curve(results["edgecodec"])
    table = {key: {"label": r["label"], **bd_against(test, curve(r))}
             for key, r in results.items() if key != "edgecodec"}
    for a in anchors:
        table[f"anchor:{a.source}"] = {"label": a.label, **bd_against(test, anchor_curve(a))}
    return table


def figures(opts: EvalOptions, codecs: list[Codec], results: dict, images: list[Image],
            anchors: list[AnchorCurve]) -> dict[str, bytes]:
    """Every figure as PNG bytes, by path inside the output folder (crops/ with --plot-crops)."""
    files = {}
    for metric, ylabel, name in (("psnr", "PSNR RGB (dB)", "rd_psnr.png"),
                                 ("ms_ssim_db", "MS-SSIM RGB (dB, -10 log10(1 - MS-SSIM))", "rd_msssim.png")):
        series = [Series(r["label"], curve(r)["bpp"], curve(r)[metric], "edgecodec" if k == "edgecodec" else "baseline")
                  for k, r in results.items()]
        series += [Series(a.label, c["bpp"], c[metric], "anchor")
                   for a in anchors if (c := anchor_curve(a))[metric] is not None]
        files[name] = rd_plot(series, ylabel, f"{Path(opts.folder).name}: {len(images)} images")
    middle = codecs[0].settings[len(codecs[0].settings) // 2]
    rows = visual_tiles(codecs, results, images, middle)
    files["visual.png"] = visual_grid(rows)
    if opts.plot_crops:
        files.update({f"crops/{name}": encode_png(pixels) for name, pixels in crop_files(rows).items()})
    return files


def write_outputs(out: Path, files: dict[str, bytes]) -> None:
    """Write every output (atomically each, in order: results.json goes last)."""
    out.mkdir(parents=True, exist_ok=True)
    if any(name.startswith("crops/") for name in files):
        (out / "crops").mkdir(exist_ok=True)
    for name, data in files.items():
        write_atomic(out / name, data)


def evaluate_images(opts: EvalOptions, files: list[Path], bar: Any, say: Callable[[str], None] = print) -> dict:
    """Evaluate ``files`` (``check_options``'), write every output into ``opts.out`` and return the report
    (results.json's content). ``bar`` is a tqdm-like progress bar (reset, set_description, update); ``say``
    prints what was found."""
    start = time.perf_counter()
    images = load_images(files)
    anchors, anchor_note = select_anchors(opts, images)
    ecb_codec = load_codec(opts.model, opts.backend)
    baselines, notices = load_baselines(opts.baselines, opts.threads)
    for note in notices:
        warnings.warn(note)
    codecs = [edgecodec_codec(ecb_codec, opts.qualities)] + baselines
    say(f"{len(images)} images from {opts.folder}; edgecodec {codecs[0].description}, backend {opts.backend}; "
        f"baselines: {', '.join(c.label for c in baselines) or 'none'}")
    say(anchor_note)
    bar.reset(total=len(images) * sum(len(c.settings) for c in codecs))
    results = {}
    for c in codecs:
        bar.set_description(c.label)
        results[c.key] = evaluate_codec(c, images, lambda: bar.update(1))
    bd = bd_table(results, anchors)
    outputs = figures(opts, codecs, results, images, anchors)
    report = {"command": opts.command, "wall_s": time.perf_counter() - start,
              "conventions": CONVENTIONS, "environment": environment(),
              "model": {"spec": opts.model, "config": ecb_codec.model.config.name,
                        "id": ecb_codec.model_id.hex(), "backend": opts.backend},
              "images": {"folder": str(Path(opts.folder).resolve()), "names": [n for n, _ in images],
                         "sizes": [list(im.shape[:2]) for _, im in images]},
              "codecs": results, "bd": bd, "notes": notices + [anchor_note],
              "anchors": [{"label": a.label, "source": a.source, "bpp": a.bpp, "psnr": a.psnr,
                           "ms_ssim": a.ms_ssim} for a in anchors]}
    outputs["results.json"] = json.dumps(json_safe(report), indent=1).encode()
    write_outputs(opts.out, outputs)
    return report


def summary_lines(results: dict, bd: dict) -> list[str]:
    """Per codec: mean bpp / PSNR / MS-SSIM / timings per setting; then the BD lines."""
    lines = ["", f"{'codec':<10}{'setting':>9}{'bpp':>8}{'PSNR':>8}{'MS-SSIM':>9}{'enc ms':>9}{'dec ms':>9}"]
    for r in results.values():
        for p in r["points"]:
            ms = "n/a" if p["ms_ssim"] is None else f"{p['ms_ssim']:.4f}"
            lines.append(f"{r['label']:<10}{p['setting']:>9g}{p['bpp']:>8.3f}{p['psnr']:>8.2f}{ms:>9}"
                         f"{p['encode_s'] * 1e3:>9.1f}{p['decode_s'] * 1e3:>9.1f}")
    lines += ["", "BD of edgecodec against each reference (PCHIP on mean curves; negative BD-rate = fewer bits):"]
    for row in bd.values():
        psnr_span, bpp_span = row["psnr_overlap_db"], row["bpp_overlap"]
        rate = (f"BD-rate n/a (PSNR overlap < {MIN_OVERLAP_DB:g} dB)" if row["bd_rate_psnr_pct"] is None else
                f"BD-rate {row['bd_rate_psnr_pct']:+7.1f}% over {psnr_span[0]:.1f}-{psnr_span[1]:.1f} dB")
        gain = ("BD-PSNR n/a (no rate overlap)" if row["bd_psnr_db"] is None else
                f"BD-PSNR {row['bd_psnr_db']:+.2f} dB over {bpp_span[0]:.2f}-{bpp_span[1]:.2f} bpp")
        ms = row["bd_rate_msssim_pct"]
        ms = f"n/a (overlap < {MIN_OVERLAP_DB:g} dB)" if ms is None else f"{ms:+.1f}%"
        lines.append(f"  vs {row['label']:<22} {rate} | {gain} | MS-SSIM BD-rate {ms}")
    return lines
