"""``edgecodec calibrate``: fit the encoder and the bitrate to one camera's scene, on site."""
from __future__ import annotations

import argparse
import warnings
from typing import TYPE_CHECKING

from .record import command_line

if TYPE_CHECKING:
    from ..calibration.options import CalibrateOptions

BUDGET_NOT_MET = 3  # exit status: everything written, but even the lowest quality exceeds the budget


def register(sub: argparse._SubParsersAction) -> None:
    from ..calibration.options import EVAL_QUALITIES, METHODS, CalibrateOptions
    from ..calibration.rate import DEFAULT_GRID, DEFAULT_WINDOW_S

    p = sub.add_parser("calibrate", help="on-site calibration: int8 ranges, bitrate, encoder adaptation, report",
                       description="Capture frames from the camera, calibrate the int8 encoder, pick the highest "
                                   "quality within a bitrate budget, optionally adapt the encoder to the scene, "
                                   "check people detection after compression, and write device.toml, "
                                   "calibration.json and report.html into OUT. Exit status 3: the budget "
                                   "cannot be met even at the lowest quality (outputs written, warning printed).")
    p.add_argument("--source", required=True, help="video file, /dev/videoN or index, rtsp:// URL, GStreamer "
                                                   "pipeline, or csi:N")
    p.add_argument("--frames", type=int, default=20, help="frames to capture; the first half calibrates, the "
                                                          "second half is held out (default 20)")
    p.add_argument("-o", "--out", required=True, help="output folder (written all at once on success)")
    p.add_argument("--budget-kbps", type=float, required=True, help="bitrate budget in kbit/s")
    p.add_argument("--fps", type=float, required=True, help="frames per second the daemon will send")
    p.add_argument("--model", default=None, help="the server's model: checkpoint or configuration name "
                                                 "(default: embedded)")
    p.add_argument("--adapt", action="store_true", help="fine-tune the encoder-only transforms on the site; "
                                                        "shipped only if it lowers the held-out BD-rate")
    p.add_argument("--adapt-steps", type=int, default=CalibrateOptions.adapt_steps,
                   help="adaptation steps (default 200)")
    p.add_argument("--adapt-lr", type=float, default=CalibrateOptions.adapt_lr,
                   help="adaptation learning rate (default 3e-5)")
    p.add_argument("--calibration-method", dest="method", choices=METHODS, default="percentile",
                   help="int8 range method written into the model (both are reported)")
    p.add_argument("--percentile", type=float, default=CalibrateOptions.percentile,
                   help="percentile of |activation| for the percentile method (default 99.99)")
    p.add_argument("--rate-percentile", type=float, default=CalibrateOptions.rate_percentile,
                   help="percentile of the stream's window-averaged bitrate that must fit the budget, as must its "
                        "mean (default 90)")
    p.add_argument("--rate-window", type=float, default=DEFAULT_WINDOW_S,
                   help=f"seconds the bitrate is averaged over (the spool and the uplink absorb shorter bursts; "
                        f"default {DEFAULT_WINDOW_S:g})")
    p.add_argument("--stream-frames", type=int, default=CalibrateOptions.stream_frames,
                   help="consecutive frames at --fps that the rate table streams at every grid quality "
                        "(default 30)")
    p.add_argument("--key-interval", type=float, default=CalibrateOptions.key_interval, metavar="SECONDS",
                   help="the daemon's key_interval_s: longest time between key frames (default 60; 0: only at "
                        "the start and on scene changes)")
    p.add_argument("--scene-change", type=float, default=CalibrateOptions.scene_change,
                   help="the daemon's scene_change share (default 0.5)")
    p.add_argument("--chain", type=int, default=CalibrateOptions.chain, metavar="N",
                   help=f"the daemon's chain: delta frames from a frame back to its key frame, at most (default "
                        f"{CalibrateOptions.chain})")
    p.add_argument("--intra", action="store_true", help="the daemon codes every frame as a key frame")
    p.add_argument("--quality-grid", type=float, nargs="+", default=list(DEFAULT_GRID),
                   help="qualities of the rate table (default 0 10 .. 100)")
    p.add_argument("--eval-qualities", type=float, nargs="+", default=list(EVAL_QUALITIES),
                   help="qualities of the held-out R-D curves, at least 2 distinct (default 10 30 50 70 90)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between frames of a live source (default 2)")
    p.add_argument("--capture-timeout", type=float, default=None,
                   help="give up on a live source after this many seconds (default 2 x frames x interval + 30)")
    p.add_argument("--threads", type=int, default=1, help="PyTorch threads (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the adaptation")
    p.set_defaults(run=run)


def _options(args: argparse.Namespace) -> CalibrateOptions:
    from ..calibration.options import CalibrateOptions

    values = {f: getattr(args, f) for f in CalibrateOptions.__dataclass_fields__ if f != "command"}
    values["quality_grid"], values["eval_qualities"] = tuple(args.quality_grid), tuple(args.eval_qualities)
    return CalibrateOptions(**values, command=command_line(args))


def print_summary(r: dict, out: str) -> None:
    """The decisions and the key numbers, a few lines."""
    rate, q, d = r["rate"], r["int8"], r["downstream"]
    print(f"{r['frames']['count']} frames from {r['source']['spec']} in {r['wall_seconds']:.0f} s; model "
          f"{r['model']['config']} {r['model']['id']}")
    m = rate["measured"]
    print(f"quality {rate['quality']:g}: expected {rate['expected_kbps']:.1f} kbit/s (mean or p{rate['percentile']:g} "
          f"of {rate['window_s']:g}-s windows), measured {rate['measured_kbps']:.1f}, budget {rate['budget_kbps']:g} "
          f"at {rate['fps']:g} fps")
    print(f"stream of {rate['clip']['frames']} frames: {m['key_frames']} key + {m['delta_frames']} delta, mean "
          f"{m['mean_kbps']:.1f} kbit/s, {m['psnr']:.2f} dB; {_x264_line(r['x264'])}")
    bd = q["bd_rate_vs_float_pct"]
    print(f"int8 ({q['method']}): BD-rate vs float {'n/a' if bd is None else f'{bd:+.2f} %'}; latent SNR "
          + ", ".join(f"{m} {v:.1f} dB" for m, v in q["latent_snr_db"].items() if v is not None))
    a = r["adaptation"]
    if a["enabled"]:
        bd = a["bd_rate_vs_unadapted_pct"]
        print(f"adaptation: BD-rate {'n/a' if bd is None else f'{bd:+.2f} %'} -> "
              f"{'shipped' if a['shipped'] else 'not shipped (original encoder kept)'}")
    for name, key in (("edgecodec", "edgecodec"), ("JPEG same size", "jpeg")):
        p, rc = (("n/a" if v is None else f"{v:.2f}") for v in (d[key]["precision"], d[key]["recall"]))
        print(f"HOG {name}: precision {p}, recall {rc} ({d[key]['matched']}/{d[key]['reference']} reference boxes, "
              f"{d[key]['bpp']:.3f} bpp)")
    print(f"wrote {out}/device.toml, calibration.json, report.html, encoder-int8.pt, encoder-int8.onnx, frames/"
          + (", encoder-adapted.pt" if a.get("shipped") else ""))


def _x264_line(x264: dict) -> str:
    if not x264["available"]:
        return f"x264 not measured ({x264['reason']})"
    return "x264 veryfast zerolatency: " + ", ".join(f"{p['kbit_s']:.0f} kbit/s {p['psnr']:.2f} dB"
                                                     for p in x264["points"])


def run(args: argparse.Namespace) -> int:
    import torch

    from ..calibration.pipeline import calibrate

    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        result = calibrate(_options(args))
    finally:
        torch.set_num_threads(before)
    print_summary(result, args.out)
    rate = result["rate"]
    if not rate["fits"]:
        warnings.warn(f"BUDGET NOT MET: even the lowest quality ({rate['quality']:g}) needs "
                      f"{rate['expected_kbps']:.0f} kbit/s against {rate['budget_kbps']:g}; device.toml uses it "
                      f"anyway. Lower --fps to about {rate['max_fps_at_lowest_quality']:.2f} or raise the budget.")
        return BUDGET_NOT_MET
    return 0
