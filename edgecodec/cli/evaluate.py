"""``edgecodec eval`` and ``edgecodec compare``: rate-distortion evaluation against classical codecs and published
anchors (``edgecodec.evaluation.images``), and two such runs against each other (``edgecodec.evaluation.compare``)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .record import command_line


def register(sub: argparse._SubParsersAction) -> None:
    from ..evaluation.baselines import BASELINE_NAMES
    from ..evaluation.images import DEFAULT_QUALITIES

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
    p.add_argument("-o", "--out", default="eval-out", help="output folder (default: eval-out)")
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


def run_compare(args: argparse.Namespace) -> int:
    from ..evaluation.compare import check_plot_path, compare_lines, compare_plot, edgecodec_result, same_images
    from ..imageio import write_atomic

    if args.plot:
        check_plot_path(args.plot)
    ref, test = edgecodec_result(args.reference), edgecodec_result(args.test)
    same_images(ref, test)
    if args.plot:
        runs = {"reference": (args.reference, ref), "test": (args.test, test)}
        write_atomic(args.plot, compare_plot(runs, Path(args.plot).suffix.lower()[1:]))
    print(f"test:      {args.test}\nreference: {args.reference}")
    print("\n".join(compare_lines(ref, test)))
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from ..evaluation.images import EvalOptions, check_options, evaluate_images, summary_lines

    start = time.perf_counter()
    opts = EvalOptions(args.folder, args.model, args.backend, args.qualities, args.baselines, Path(args.out),
                       args.anchors, args.images, args.plot_crops, args.threads, command_line(args))
    files = check_options(opts)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with tqdm(unit="code", disable=None, file=sys.stderr) as bar:
            report = evaluate_images(opts, files, bar)
    finally:
        torch.set_num_threads(threads_before)
    print("\n".join(summary_lines(report["codecs"], report["bd"])))
    print(f"\nwrote {opts.out}/results.json, rd_psnr.png, rd_msssim.png, visual.png in "
          f"{time.perf_counter() - start:.0f} s")
    return 0
