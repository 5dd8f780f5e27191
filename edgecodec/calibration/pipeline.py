"""The calibration steps in order, writing everything into one output folder (all or nothing).

    capture ─► split (first half calibrates, second half is held out); a clip of consecutive frames at --fps
       ─► [adapt the encoder on the calibration half; keep it if the held-out BD-rate improves]
       ─► int8 ranges of the shipped encoder ─► encoder-int8.pt / .onnx, int8 vs float on held-out
       ─► rate table: the clip streamed by the shipped encoder ─► quality within the budget ─► device.toml
       ─► x264 (veryfast zerolatency, GOP 2 s) on the clip, when ffmpeg is installed
       ─► HOG agreement and R-D against JPEG on held-out ─► calibration.json, report.html

Adaptation runs before the int8 ranges and the rate table because both must describe the
encoder that ships. Every measurement is on the held-out half; nothing chosen on it.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..checkpoint import load_models, save_checkpoint
from .. import codec
from ..codec.models.conditional import ConditionalEntropy
from ..codec.models.dkic import DKIC
from ..codec.stream import StreamPolicy
from ..edge.sources import SourcePlan
from ..evaluation.runner import json_safe
from ..imageio import write_atomic
from ..quality import psnr_u8
from . import adapt, devicefile, frames, hog, int8, rate, report, sitecurves, sitestream
from .options import METHODS, CalibrateOptions, validate
from .staging import Staging

OUTPUTS = ("frames", "device.toml", "calibration.json", "report.html", "encoder-int8.pt", "encoder-int8.onnx",
           "encoder-adapted.pt")


@dataclass
class _Run:
    """State shared by the steps."""

    opts: CalibrateOptions
    stage: Path
    server: DKIC
    calibration: list[frames.Frame]
    held_out: list[frames.Frame]
    encoder: DKIC  # the float encoder that ships (the server's, or the adapted one)
    clip: list[frames.Frame]  # consecutive frames at the planned fps (the rate table's stream)
    conditional: ConditionalEntropy | None  # delta frames' model (None: skip with intra parameters)
    result: dict = field(default_factory=dict)

    def images(self, which: str) -> list[np.ndarray]:
        return [f.image for f in (self.calibration if which == "calibration" else self.held_out)]


def _bar(total: int, desc: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit="step", leave=False, disable=None, file=sys.stderr, dynamic_ncols=True)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _capture(opts: CalibrateOptions, plan: SourcePlan, stage: Path) -> tuple[list[frames.Frame], list[frames.Frame]]:
    """(frames spread over time, saved into frames/; the clip of consecutive frames at --fps)."""
    timeout = opts.capture_timeout or (opts.frames * opts.interval * 2 + 30)
    with _bar(opts.frames, "capture") as bar:
        captured = frames.capture(plan, opts.frames, opts.interval, timeout, lambda: bar.update(1))
    frames.save(captured, stage / "frames")
    timeout = opts.capture_timeout or (opts.stream_frames / opts.fps * 2 + 30)
    with _bar(opts.stream_frames, "capture clip") as bar:
        clip = frames.clip(plan, opts.source, opts.stream_frames, opts.fps, timeout, lambda: bar.update(1))
    return captured, clip


def _curve(run: _Run, encoder: DKIC, desc: str) -> list[sitecurves.Point]:
    images = run.images("held_out")
    with _bar(len(images) * len(run.opts.eval_qualities), desc) as bar:
        return sitecurves.edgecodec_curve(encoder, run.server, images, list(run.opts.eval_qualities),
                                          lambda: bar.update(1))


def _adapt(run: _Run, base: list[sitecurves.Point]) -> list[sitecurves.Point]:
    """Fine-tune, measure on held-out, ship only if the BD-rate is negative; returns the shipped curve."""
    opts = adapt.AdaptOptions(steps=run.opts.adapt_steps, lr=run.opts.adapt_lr, seed=run.opts.seed)
    losses: list[float] = []
    with _bar(opts.steps, "adapt") as bar:
        def tick(loss: float) -> None:
            losses.append(loss)
            bar.update(1)

        adapted = adapt.adapt_encoder(run.server, run.images("calibration"), opts, tick)
    curve = _curve(run, adapted, "adapted R-D")
    bd = sitecurves.bd_rate_of(base, curve)
    shipped = bd is not None and bd < 0
    if shipped:
        save_checkpoint(run.stage / "encoder-adapted.pt", adapted, {"meta": {"adapted_on": run.opts.source}})
        run.encoder = adapted
    run.result["adaptation"] = {
        "enabled": True, "options": opts.to_dict(), "trained": list(adapt.ADAPTED_PARTS),
        "first_loss": losses[0], "last_loss": float(np.mean(losses[-10:])),
        "bd_rate_vs_unadapted_pct": bd, "shipped": shipped, "decoder_side_unchanged": True,
        "unadapted": [p.to_dict() for p in base], "adapted": [p.to_dict() for p in curve]}
    return curve if shipped else base


def _int8(run: _Run, float_curve: list[sitecurves.Point]) -> None:
    """Histograms -> scales by both methods -> the chosen one as encoder-int8.pt/.onnx; int8 vs float."""
    calib, held = run.images("calibration"), run.images("held_out")
    with _bar(2 * len(calib), "int8 ranges") as bar:
        hists = int8.collect_histograms(run.encoder, calib, lambda: bar.update(1))
    scales = {m: int8.choose_scales(hists, m, run.opts.percentile) for m in METHODS}
    snr = {m: int8.latent_snr(run.encoder, int8.build_int8(run.encoder, scales[m]), held) for m in METHODS}
    quantised = int8.build_int8(run.encoder, scales[run.opts.method])
    if codec.model_id(quantised) != codec.model_id(run.server):
        raise RuntimeError("the int8 encoder changed the model id")
    save_checkpoint(run.stage / "encoder-int8.pt", quantised, {"meta": {"calibration": run.opts.method}})
    graph = int8.encoder_onnx(quantised)
    write_atomic(run.stage / "encoder-int8.onnx", graph)
    curve = _curve(run, quantised, "int8 R-D")
    run.result["int8"] = {
        "method": run.opts.method, "percentile": run.opts.percentile, "points": len(hists),
        "latent_snr_db": snr, "onnx_relative_error": int8.onnx_agreement(quantised, graph, held[0], 2.5),
        "bd_rate_vs_float_pct": sitecurves.bd_rate_of(float_curve, curve),
        "float": [p.to_dict() for p in float_curve], "int8": [p.to_dict() for p in curve],
        "scales": {n: {m: scales[m][n] for m in METHODS} | {"amax": h.amax} for n, h in hists.items()}}


def _intra_sizes(run: _Run, qualities: list[float]) -> dict[float, list[int]]:
    """Per-frame bytes of the calibration frames coded as key frames (the intra reference table)."""
    images, (encoder, _) = run.images("calibration"), sitecurves.codecs(run.encoder, run.server)
    sizes: dict[float, list[int]] = {q: [] for q in qualities}
    with _bar(len(images) * len(qualities), "intra table") as bar:
        for q in qualities:
            for image in images:
                sizes[q].append(len(encoder.encode(image, q)))
                bar.update(1)
    return sizes


def _stream(run: _Run, qualities: list[float], desc: str) -> list[sitestream.CodedClip]:
    """The clip streamed at each quality with the daemon's policy, decoded by the server's side."""
    o, images = run.opts, [f.image for f in run.clip]
    encoder, server = sitecurves.codecs(run.encoder, run.server, run.conditional)
    policy = _policy(o)
    with _bar(len(images) * len(qualities), desc) as bar:
        return [sitestream.code_clip(encoder, server, images, q, policy, lambda: bar.update(1)) for q in qualities]


def _policy(o: CalibrateOptions) -> StreamPolicy:
    """The daemon's stream policy at the planned frame rate."""
    return sitestream.policy(o.key_interval, o.fps, o.scene_change, o.intra, o.chain)


def _row(run: _Run, coded: sitestream.CodedClip) -> rate.RateRow:
    o = run.opts
    return rate.stream_row(coded.quality, coded.sizes, coded.kinds, o.fps, _policy(o).key_interval, o.rate_window,
                           o.rate_percentile, coded.mean_psnr)


def _rate(run: _Run) -> rate.RateChoice:
    """Rate table of the streamed clip; the choice, checked by streaming at it; the intra reference table."""
    o = run.opts
    grid = sorted(set(o.quality_grid))
    table = [_row(run, coded) for coded in _stream(run, grid, "rate table (stream)")]
    choice = rate.choose_quality(table, o.budget_kbps)
    at_choice = next((r for r in table if r.quality == choice.quality), None)
    if at_choice is None:
        at_choice = _row(run, _stream(run, [choice.quality], "rate check")[0])
    if choice.fits and at_choice.required_kbps > o.budget_kbps:  # between grid points the curve wobbled
        grid_q = max(r.quality for r in table if r.quality <= choice.quality)
        choice = rate.RateChoice(grid_q, rate.expected_kbps(table, grid_q), True, o.budget_kbps)
        at_choice = next(r for r in table if r.quality == grid_q)
    intra = _intra_sizes(run, grid)
    intra_table = [rate.stream_row(q, intra[q], [rate.KEY] * len(intra[q]), o.fps, 0, o.rate_window,
                                   o.rate_percentile) for q in grid]
    run.result["rate"] = {
        "statistic": f"the larger of the mean and the {o.rate_percentile:g}th percentile of {o.rate_window:g}-s "
                     f"window averages of the stream's bitrate, over one key interval extended from the clip",
        "percentile": o.rate_percentile, "window_s": o.rate_window, "fps": o.fps, "budget_kbps": o.budget_kbps,
        "key_interval_s": o.key_interval, "scene_change": o.scene_change, "chain": o.chain, "intra": o.intra,
        **choice.to_dict(), "measured_kbps": at_choice.required_kbps, "measured": asdict(at_choice),
        "max_fps_at_lowest_quality": rate.max_fps(table, o.budget_kbps, o.fps),
        "clip": {"frames": len(run.clip), "source_indices": [f.index for f in run.clip],
                 "seconds": [f.seconds for f in run.clip]},
        "table": [asdict(r) for r in table],
        "intra_table": [asdict(r) for r in intra_table],
        "intra_table_frames": "the calibration frames (spread over time), every frame a key frame"}
    with _bar(1, "x264") as bar:
        run.result["x264"] = sitestream.x264_curve([f.image for f in run.clip], o.fps)
        bar.update(1)
    return choice


def _downstream(run: _Run, quality: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """HOG on originals, on edgecodec at ``quality`` and on JPEG at the same size per frame."""
    detector, (encoder, server) = hog.people_detector(), sitecurves.codecs(run.encoder, run.server)
    agreement = {"edgecodec": hog.Agreement(), "jpeg": hog.Agreement()}
    rd: dict[str, list[tuple[float, float]]] = {"edgecodec": [], "jpeg": []}  # (bpp, PSNR) per frame
    samples = []
    with _bar(len(run.held_out), "downstream") as bar:
        for image in run.images("held_out"):
            data = encoder.encode(image, quality)
            _, jpeg_bytes = sitecurves.jpeg_at_size(image, len(data))
            decoded = {"edgecodec": (len(data), server.decode(data)),
                       "jpeg": (len(jpeg_bytes), sitecurves.jpeg_decode(jpeg_bytes))}
            reference = hog.detect(detector, image)
            for key, (size, result) in decoded.items():
                agreement[key].add(reference, hog.detect(detector, result))
                rd[key].append((sitecurves.bpp(size, image), psnr_u8(image, result)))
            samples.append((image, decoded["edgecodec"][1], decoded["jpeg"][1]))
            bar.update(1)
    run.result["downstream"] = {
        "quality": quality, "detector": "cv2.HOGDescriptor default people detector",
        "params": hog.HOG_PARAMS, "matching": f"greedy by IoU, IoU >= {hog.IOU_THRESHOLD}",
        **{key: a.to_dict() | dict(zip(("bpp", "psnr"), np.mean(rd[key], axis=0).tolist(), strict=True))
           for key, a in agreement.items()}}
    return samples


def _device_file(run: _Run, choice: rate.RateChoice) -> None:
    adapted = run.result.get("adaptation", {}).get("shipped")
    if adapted:
        model = str((Path(run.opts.out) / "encoder-adapted.pt").resolve())
    elif run.opts.model and Path(run.opts.model).exists():
        model = str(Path(run.opts.model).resolve())
    else:
        model = run.opts.model  # a configuration name, or None: the embedded model
    o = run.opts
    settings = {"source": o.source, "fps": float(o.fps), "quality": choice.quality, "key_interval_s": o.key_interval,
                "scene_change": o.scene_change, "chain": o.chain, "intra": o.intra, "model": model}
    write_atomic(run.stage / "device.toml", devicefile.device_toml(settings, _now()).encode())
    run.result["device"] = {k: v for k, v in settings.items() if v is not None}


def _measure(run: _Run) -> tuple[rate.RateChoice, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    base = _curve(run, run.server, "float R-D")
    shipped = _adapt(run, base) if run.opts.adapt else base
    if not run.opts.adapt:
        run.result["adaptation"] = {"enabled": False}
    _int8(run, shipped)
    choice = _rate(run)
    samples = _downstream(run, choice.quality)
    jpeg = sitecurves.jpeg_curve(run.images("held_out"))
    run.result["site_rd"] = {"edgecodec": [p.to_dict() for p in shipped], "jpeg": [p.to_dict() for p in jpeg],
                             "bd_rate_vs_jpeg_pct": sitecurves.bd_rate_of(jpeg, shipped)}
    return choice, samples


def calibrate(opts: CalibrateOptions) -> dict:
    """Run every step; returns what calibration.json holds. Nothing is left in ``opts.out`` on failure."""
    validate(opts)
    plan = frames.plan(opts.source)  # a missing or malformed source fails before anything is written
    started, clock = _now(), time.perf_counter()
    server, conditional = load_models(opts.model)
    server.eval()
    if server.config.int8:
        raise ValueError("calibrate needs the float model (this one is already int8)")
    with Staging(Path(opts.out), OUTPUTS) as stage:
        captured, clip = _capture(opts, plan, stage)
        calibration, held_out = frames.split(captured)
        run = _Run(opts, stage, server, calibration, held_out, encoder=server, clip=clip, conditional=conditional)
        choice, samples = _measure(run)
        _device_file(run, choice)
        run.result.update(_header(run, plan.kind, started, time.perf_counter() - clock))
        result = json_safe(run.result)
        write_atomic(stage / "calibration.json", json.dumps(result, indent=1).encode())
        write_atomic(stage / "report.html", report.render(result, samples).encode())
    return result


def _header(run: _Run, kind: str, started: str, seconds: float) -> dict:
    h, w = run.held_out[0].image.shape[:2]
    return {"format": "edgecodec-calibration", "version": 1, "command": run.opts.command,
            "started": started, "finished": _now(), "wall_seconds": seconds,
            "source": {"spec": run.opts.source, "kind": kind},
            "frames": {"count": len(run.calibration) + len(run.held_out), "width": w, "height": h,
                       "calibration": [f.name for f in run.calibration], "held_out": [f.name for f in run.held_out],
                       "seconds": [f.seconds for f in run.calibration + run.held_out]},
            "model": {"spec": run.opts.model, "config": run.server.config.name,
                      "id": codec.model_id(run.server).hex()}}
