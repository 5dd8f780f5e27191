"""``edgecodec eval``: rate-distortion evaluation against classical codecs and published anchors."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import warnings
from pathlib import Path

from ..codec.models.config import is_finite_number

DEFAULT_QUALITIES = (5.0, 15.0, 30.0, 50.0, 70.0, 90.0)


def register(sub: argparse._SubParsersAction) -> None:
    from ..evaluation.baselines import BASELINE_NAMES

    p = sub.add_parser("eval", help="rate-distortion evaluation against JPEG, WebP, AVIF, JPEG XL",
                       description="Codes every image of DIR with edgecodec (real bytes) and with classical "
                                   "codecs, reports bpp / PSNR / MS-SSIM / timings, BD-rates, R-D plots and "
                                   "a visual comparison at equal bpp. Published anchors (CompressAI's Kodak "
                                   "results) are added only when DIR is the full Kodak set.")
    p.add_argument("folder", metavar="DIR", help="folder of images")
    p.add_argument("--model", default=None, help="checkpoint path or configuration name (default: embedded)")
    p.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch", help="float transforms' runtime")
    p.add_argument("--qualities", type=float, nargs="+", default=list(DEFAULT_QUALITIES),
                   help="edgecodec qualities 0..100 (default: 5 15 30 50 70 90)")
    p.add_argument("--baselines", nargs="*", choices=BASELINE_NAMES, default=list(BASELINE_NAMES),
                   help="classical codecs (default: all four; none: --baselines with no name)")
    p.add_argument("--out", default="eval-out", help="output folder (default: eval-out)")
    p.add_argument("--anchors", default=None,
                   help="folder of CompressAI result JSON files, drawn when DIR is the full Kodak set (default: "
                        "none; e.g. ../shared/data/anchors/compressai_kodak)")
    p.add_argument("--images", type=int, default=0, help="only the first N images (0: all)")
    p.add_argument("--plot-crops", action="store_true",
                   help="also write every crop of visual.png as a PNG in OUTDIR/crops/")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for PyTorch and the codecs (default 1: single-core timings)")
    p.set_defaults(run=run)

    c = sub.add_parser("compare", help="BD-rate between two `edgecodec eval` runs (e.g. an ablation)",
                       description="Compares the edgecodec curves of two results.json files written by "
                                   "`edgecodec eval` on the same images: BD-rate (PSNR and MS-SSIM), BD-PSNR "
                                   "and mean encode/decode time of TEST against REFERENCE.")
    c.add_argument("reference", help="results.json of the reference run")
    c.add_argument("test", help="results.json of the run measured against it")
    c.add_argument("--plot", metavar="OUT", default=None,
                   help="also write both runs' PSNR curves in one R-D plot to OUT (.svg or .png)")
    c.set_defaults(run=run_compare)


def _valid_point(p: object) -> bool:
    """An averaged point as `edgecodec eval` writes it (PSNR / MS-SSIM dB null: lossless or undefined)."""
    return (isinstance(p, dict) and is_finite_number(p.get("bpp")) and p["bpp"] > 0
            and all(k in p and (p[k] is None or is_finite_number(p[k])) for k in ("psnr", "ms_ssim_db"))
            and all(is_finite_number(p.get(k)) and p[k] >= 0 for k in ("encode_s", "decode_s")))


def _edgecodec_result(path: str) -> dict:
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


def _check_plot(path: str) -> None:
    """Refuse, before any work, a --plot output that is not an .svg/.png file in a writable folder."""
    out = Path(path)
    if out.suffix.lower() not in (".svg", ".png"):
        raise ValueError(f"--plot {path}: the name must end in .svg or .png")
    if out.is_dir():
        raise IsADirectoryError(f"--plot {path} is a folder")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--plot {path}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise PermissionError(f"--plot {path}: folder {out.parent} is not writable")


def _compare_plot(args: argparse.Namespace, ref: dict, test: dict) -> bytes:
    """Both runs' edgecodec PSNR curves in one R-D plot (reference solid, test dashed)."""
    from ..evaluation.plots import Series, rd_plot
    from ..evaluation.runner import curve

    series = [Series(f"{role}: {path}", curve(r)["bpp"], curve(r)["psnr"], "edgecodec")
              for role, path, r in (("reference", args.reference, ref), ("test", args.test, test))]
    return rd_plot(series, "PSNR RGB (dB)", f"edgecodec compare: {len(ref['image_names'])} images",
                   fmt=Path(args.plot).suffix.lower()[1:])


def run_compare(args: argparse.Namespace) -> int:
    from ..evaluation.runner import MIN_OVERLAP_DB, bd_against, curve
    from ..imageio import write_atomic

    if args.plot:
        _check_plot(args.plot)
    ref, test = _edgecodec_result(args.reference), _edgecodec_result(args.test)
    if ref["image_names"] != test["image_names"]:
        raise ValueError("the two runs evaluated different images; BD-rate needs the same set")
    if args.plot:
        write_atomic(args.plot, _compare_plot(args, ref, test))
    bd = bd_against(curve(test), curve(ref))
    fmt = lambda v, unit: f"n/a (overlap < {MIN_OVERLAP_DB:g} dB)" if v is None else f"{v:+.2f}{unit}"  # noqa: E731
    mean = lambda r, k: sum(p[k] for p in r["points"]) / len(r["points"])  # noqa: E731
    print(f"test:      {args.test}\nreference: {args.reference}")
    print(f"BD-rate (PSNR) {fmt(bd['bd_rate_psnr_pct'], ' %')} | BD-PSNR {fmt(bd['bd_psnr_db'], ' dB')} | "
          f"BD-rate (MS-SSIM) {fmt(bd['bd_rate_msssim_pct'], ' %')}")
    for key, name in (("encode_s", "encode"), ("decode_s", "decode")):
        print(f"mean {name} time: {mean(test, key) * 1e3:.0f} ms vs {mean(ref, key) * 1e3:.0f} ms")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The canonical command that reproduces this run."""
    argv = ["edgecodec", "eval", str(args.folder), "--backend", args.backend,
            "--qualities", *[f"{q:g}" for q in args.qualities], "--baselines", *args.baselines,
            "--out", str(args.out), "--threads", str(args.threads)]
    argv += ["--model", args.model] if args.model else []
    argv += ["--anchors", str(args.anchors)] if args.anchors else []
    argv += ["--images", str(args.images)] if args.images else []
    argv += ["--plot-crops"] if args.plot_crops else []
    return shlex.join(argv)


OUTPUT_FILES = ("rd_psnr.png", "rd_msssim.png", "visual.png", "results.json")


def _check_out(out: Path, crops: bool) -> None:
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


def _check_args(args: argparse.Namespace) -> tuple[list[Path], Path]:
    from ..evaluation.runner import list_eval_images

    files = list_eval_images(args.folder, args.images)
    for q in args.qualities:
        if not 0 <= q <= 100:
            raise ValueError(f"quality must be within 0..100, got {q:g}")
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    out = Path(args.out)
    _check_out(out, args.plot_crops)
    if args.anchors and not Path(args.anchors).is_dir():
        raise FileNotFoundError(f"anchor folder {args.anchors} does not exist")
    return files, out


def _anchors(args: argparse.Namespace, images) -> tuple[list, str]:
    """Published curves when the images are the full Kodak set, and the sentence saying so."""
    from ..evaluation.anchors import is_kodak, load_anchors

    if not args.anchors:
        return [], "anchors: none (--anchors DIR draws published Kodak curves)"
    folder = Path(args.anchors)
    if not is_kodak([n for n, _ in images], [im.shape[:2] for _, im in images]):
        return [], ("anchors: not used -- the published curves are averages over the 24 Kodak images "
                    f"and are valid only for that set; this run has {len(images)} image(s) from {args.folder}")
    curves = load_anchors(folder)
    return curves, (f"anchors: {len(curves)} published Kodak curves from {folder} "
                    "(valid because DIR is the full Kodak set)")


def _evaluate(codecs, images) -> dict[str, dict]:
    from tqdm import tqdm

    from ..evaluation.runner import evaluate_codec

    total = len(images) * sum(len(c.settings) for c in codecs)
    results = {}
    with tqdm(total=total, unit="code", disable=None, file=sys.stderr) as bar:
        for c in codecs:
            bar.set_description(c.label)
            results[c.key] = evaluate_codec(c, images, lambda: bar.update(1))
    return results


def _bd_table(results: dict, anchors: list) -> dict[str, dict]:
    from ..evaluation.runner import anchor_curve, bd_against, curve

    test = curve(results["edgecodec"])
    table = {key: {"label": r["label"], **bd_against(test, curve(r))}
             for key, r in results.items() if key != "edgecodec"}
    for a in anchors:
        table[f"anchor:{a.source}"] = {"label": a.label, **bd_against(test, anchor_curve(a))}
    return table


def _figures(args, codecs, results, images, anchors) -> dict[str, bytes]:
    """Every figure as PNG bytes, by path inside the output folder (crops/ with --plot-crops)."""
    from ..evaluation.plots import Series, crop_files, rd_plot, visual_grid, visual_tiles
    from ..evaluation.runner import anchor_curve, curve
    from ..imageio import encode_png

    files = {}
    for metric, ylabel, name in (("psnr", "PSNR RGB (dB)", "rd_psnr.png"),
                                 ("ms_ssim_db", "MS-SSIM RGB (dB, -10 log10(1 - MS-SSIM))", "rd_msssim.png")):
        series = [Series(r["label"], curve(r)["bpp"], curve(r)[metric], "edgecodec" if k == "edgecodec" else "baseline")
                  for k, r in results.items()]
        series += [Series(a.label, c["bpp"], c[metric], "anchor")
                   for a in anchors if (c := anchor_curve(a))[metric] is not None]
        files[name] = rd_plot(series, ylabel, f"{Path(args.folder).name}: {len(images)} images")
    middle = codecs[0].settings[len(codecs[0].settings) // 2]
    rows = visual_tiles(codecs, results, images, middle)
    files["visual.png"] = visual_grid(rows)
    if args.plot_crops:
        files.update({f"crops/{name}": encode_png(pixels) for name, pixels in crop_files(rows).items()})
    return files


def _write(out: Path, files: dict[str, bytes]) -> None:
    """Write every output (atomically each, in order: results.json goes last)."""
    from ..imageio import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    if any(name.startswith("crops/") for name in files):
        (out / "crops").mkdir(exist_ok=True)
    for name, data in files.items():
        write_atomic(out / name, data)


def print_summary(results: dict, bd: dict) -> None:
    """Per codec: mean bpp / PSNR / MS-SSIM / timings per setting; then the BD lines."""
    from ..evaluation.runner import MIN_OVERLAP_DB

    print(f"\n{'codec':<10}{'setting':>9}{'bpp':>8}{'PSNR':>8}{'MS-SSIM':>9}{'enc ms':>9}{'dec ms':>9}")
    for r in results.values():
        for p in r["points"]:
            ms = "n/a" if p["ms_ssim"] is None else f"{p['ms_ssim']:.4f}"
            print(f"{r['label']:<10}{p['setting']:>9g}{p['bpp']:>8.3f}{p['psnr']:>8.2f}{ms:>9}"
                  f"{p['encode_s'] * 1e3:>9.1f}{p['decode_s'] * 1e3:>9.1f}")
    print("\nBD of edgecodec against each reference (PCHIP on mean curves; negative BD-rate = fewer bits):")
    for row in bd.values():
        psnr_span, bpp_span = row["psnr_overlap_db"], row["bpp_overlap"]
        rate = (f"BD-rate n/a (PSNR overlap < {MIN_OVERLAP_DB:g} dB)" if row["bd_rate_psnr_pct"] is None else
                f"BD-rate {row['bd_rate_psnr_pct']:+7.1f}% over {psnr_span[0]:.1f}-{psnr_span[1]:.1f} dB")
        gain = ("BD-PSNR n/a (no rate overlap)" if row["bd_psnr_db"] is None else
                f"BD-PSNR {row['bd_psnr_db']:+.2f} dB over {bpp_span[0]:.2f}-{bpp_span[1]:.2f} bpp")
        ms = row["bd_rate_msssim_pct"]
        ms = f"n/a (overlap < {MIN_OVERLAP_DB:g} dB)" if ms is None else f"{ms:+.1f}%"
        print(f"  vs {row['label']:<22} {rate} | {gain} | MS-SSIM BD-rate {ms}")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..evaluation.baselines import load_baselines
    from ..evaluation.runner import CONVENTIONS, edgecodec_codec, environment, json_safe, load_images
    from ..runtime import load_codec

    start = time.perf_counter()
    files, out = _check_args(args)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        images = load_images(files)
        anchors, anchor_note = _anchors(args, images)
        ecb_codec = load_codec(args.model, args.backend)
        baselines, notices = load_baselines(args.baselines, args.threads)
        for note in notices:
            warnings.warn(note)
        codecs = [edgecodec_codec(ecb_codec, args.qualities)] + baselines
        print(f"{len(images)} images from {args.folder}; edgecodec {codecs[0].description}, backend {args.backend}; "
              f"baselines: {', '.join(c.label for c in baselines) or 'none'}")
        print(anchor_note)
        results = _evaluate(codecs, images)
        bd = _bd_table(results, anchors)
        outputs = _figures(args, codecs, results, images, anchors)
        report = {"command": command_line(args), "wall_s": time.perf_counter() - start,
                  "conventions": CONVENTIONS, "environment": environment(),
                  "model": {"spec": args.model, "config": ecb_codec.model.config.name,
                            "id": ecb_codec.model_id.hex(), "backend": args.backend},
                  "images": {"folder": str(Path(args.folder).resolve()), "names": [n for n, _ in images],
                             "sizes": [list(im.shape[:2]) for _, im in images]},
                  "codecs": results, "bd": bd, "notes": notices + [anchor_note],
                  "anchors": [{"label": a.label, "source": a.source, "bpp": a.bpp, "psnr": a.psnr,
                               "ms_ssim": a.ms_ssim} for a in anchors]}
        outputs["results.json"] = json.dumps(json_safe(report), indent=1).encode()
        _write(out, outputs)
    finally:
        torch.set_num_threads(threads_before)
    print_summary(results, bd)
    print(f"\nwrote {out}/results.json, rd_psnr.png, rd_msssim.png, visual.png in {time.perf_counter() - start:.0f} s")
    return 0
