"""Rate-distortion evaluation on video from a fixed camera, every codec on the same frames.

Codecs: edgecodec's stream (key frames every ``key_interval_s``, delta frames in chains back to the
last key frame in between) and edgecodec intra (every frame a key frame); x264 / x265
through ffmpeg (``ffmpeg.py``); JPEG and WebP per frame, through ``baselines`` as
``edgecodec eval`` codes them. Each codec is swept over its own setting for an R-D curve;
BD figures (``runner.bd_against``) are taken against both edgecodec curves.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..codec import bitstream
from ..codec.facade import Codec as EcbCodec
from ..codec.stream import CHAIN
from ..quality import psnr_u8
from . import ffmpeg
from .baselines import load_baselines
from .runner import MIN_OVERLAP_DB, bd_against

EDGECODEC_KEYS = ("edgecodec", "edgecodec-intra")
IMAGE_KEYS = ("jpeg", "webp")
CODEC_NAMES = EDGECODEC_KEYS + ffmpeg.VIDEO_CODEC_NAMES + IMAGE_KEYS

CONVENTIONS = {
    "frames": "the same frames for every codec: source frame START, then one every (native fps / --fps) "
              "source frames, at most --frames; RGB uint8, cropped to even width and height (4:2:0); "
              "a source without a frame rate (a folder of images) counts as one frame per step",
    "bits": "real bytes: edgecodec's frames as coded (container header per frame included), JPEG / WebP "
            "files, x264 / x265 raw elementary streams (parameter sets and SEI in-band); for x264 / x265 "
            "the bytes are the sum of the stream's packet sizes (ffprobe -show_packets), which equals the "
            "stream file's size; frame_bytes are those packets in decode order",
    "rate": "kbit_s = 8 * bytes / (frames / sampled fps) / 1000; bpp = 8 * bytes / (frames * width * height)",
    "psnr": "RGB, 8-bit, 10 log10(255^2 / MSE) per frame (MSE over all pixels and the 3 channels) against "
            "the rgb24 source frame, then the arithmetic mean over frames (null when infinite)",
    "ffmpeg": "frames piped as rawvideo rgb24 at the sampled rate, -pix_fmt yuv420p (ffmpeg's default "
              "swscale conversion), -crf SETTING; decoded with ffmpeg back to rgb24, one frame per packet",
    "bd": "Bjontegaard delta on the per-setting curves, PCHIP interpolation of log(bpp) vs mean PSNR over "
          f"the overlapping PSNR range (not reported under {MIN_OVERLAP_DB:g} dB); negative BD-rate: the "
          "codec needs fewer bits than the reference",
    "timing": "wall milliseconds per frame: edgecodec / JPEG / WebP one call per frame on bytes in memory "
              "after one warm-up; x264 / x265 the whole ffmpeg process (start-up, RGB <-> YUV conversion, "
              "pipe or file I/O included) divided by the frames",
    "key_frames": "frames coded without reference to another (edgecodec key frames; x264 / x265 packets "
                  "flagged K); skipped_share: edgecodec stream only, mean over delta frames of the share "
                  "of positions taken from the reference",
}


@dataclass
class Clip:
    """The frames every codec codes, and where they came from."""

    frames: list[np.ndarray]
    rate: float  # sampled frames per second
    indices: list[int]  # source frame numbers
    cropped: bool  # cut to even width / height

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.frames[0].shape[0], self.frames[0].shape[1]


def read_clip(source: str, fps: float | None = None, limit: int | None = None, start: int = 0) -> Clip:
    """Source frame ``start``, then sampled at ``fps``, at most ``limit`` frames (ValueError if none)."""
    from ..videoio import Frames

    if not Path(source).exists():
        raise FileNotFoundError(f"video {source} does not exist")
    frames, read = Frames(source, fps, limit, start=start), []
    try:
        read = list(frames.indexed())
    except OSError:  # not even one frame from ``start`` on
        pass
    finally:
        frames.close()
    if not read:
        raise ValueError(f"no frames in {source} from frame {start}")
    return _even([f for _, f in read], frames.rate, [i for i, _ in read])


def _even(frames: list[np.ndarray], rate: float, indices: list[int]) -> Clip:
    """All frames of one size, cropped to even width and height."""
    h, w = frames[0].shape[:2]
    for i, f in zip(indices, frames):
        if f.shape[:2] != (h, w):
            raise ValueError(f"frame {i} is {f.shape[1]}x{f.shape[0]}, frame {indices[0]} {w}x{h}")
    eh, ew = h - h % 2, w - w % 2
    if eh < 2 or ew < 2:
        raise ValueError(f"frames of {w}x{h} are too small to code")
    cropped = (eh, ew) != (h, w)
    frames = [np.ascontiguousarray(f[:eh, :ew]) for f in frames] if cropped else frames
    return Clip(frames, rate, indices, cropped)


FrameEncoder = Callable[[np.ndarray], tuple[bytes, int, float]]  # -> (bytes, kind, skipped share)
FrameDecoder = Callable[[bytes], np.ndarray]


@dataclass
class FrameCodec:
    """A codec run in this process, frame by frame: ``start(setting)`` -> fresh (encode, decode)."""

    key: str
    label: str
    parameter: str
    settings: list[float]
    start: Callable[[float], tuple[FrameEncoder, FrameDecoder]]
    description: str = ""


def edgecodec_codecs(codec: EcbCodec, qualities: Sequence[float], key_interval: int, chain: int) -> list[FrameCodec]:
    """edgecodec's stream (a key frame at most every ``key_interval`` frames, chains of ``chain``) and
    edgecodec intra."""
    from ..codec.stream import StreamDecoder, StreamEncoder, StreamPolicy

    def starter(intra: bool) -> Callable[[float], tuple[FrameEncoder, FrameDecoder]]:
        def start(quality: float) -> tuple[FrameEncoder, FrameDecoder]:
            enc = StreamEncoder(codec, quality, StreamPolicy(key_interval=key_interval, intra=intra, chain=chain))

            def encode(image: np.ndarray) -> tuple[bytes, int, float]:
                f = enc.encode(image)
                return f.data, f.kind, f.skipped

            return encode, StreamDecoder(codec).decode
        return start

    model = f"model {codec.model.config.name} ({codec.model_id.hex()})"
    every = f"every {key_interval} frames at most" if key_interval else "at the start and on scene changes"
    settings = sorted(dict.fromkeys(float(q) for q in qualities))
    return [FrameCodec("edgecodec", "edgecodec stream", "quality", settings, starter(False),
                       f"{model}, key frames {every}, delta frames in chains of at most {chain} back to the "
                       f"last key frame"),
            FrameCodec("edgecodec-intra", "edgecodec intra", "quality", settings, starter(True),
                       f"{model}, every frame a key frame")]


def image_codecs(names: Sequence[str], qualities: Sequence[float] | None,
                 threads: int) -> tuple[list[FrameCodec], list[str]]:
    """JPEG / WebP per frame through ``baselines``, and the notices of those unavailable."""
    codecs, notices = load_baselines(names, threads)
    out = []
    for c in codecs:
        def start(q: float, c=c) -> tuple[FrameEncoder, FrameDecoder]:
            return (lambda image: (c.encode(image, q), bitstream.KEY, 0.0)), c.decode

        settings = sorted(float(q) for q in qualities) if qualities else list(c.settings)
        out.append(FrameCodec(c.key, c.label, c.parameter, settings, start, c.description))
    return out, notices


@dataclass
class Plan:
    """What to run: codec keys (CODEC_NAMES) and each family's settings."""

    codecs: Sequence[str]
    qualities: Sequence[float]  # edgecodec
    crfs: Sequence[float] = ffmpeg.DEFAULT_CRFS  # x264 / x265
    image_qualities: Sequence[float] | None = None  # JPEG / WebP (None: baselines' own sweep)
    key_interval_s: float = 60.0
    threads: int = 1
    chain: int = CHAIN


def evaluate(clip: Clip, plan: Plan, codec: EcbCodec | None, tools: tuple[str, str] | None,
             progress: Any = None) -> tuple[dict[str, dict], list[str]]:
    """Run every planned codec on the clip: (results by key, in CODEC_NAMES order; notices).

    ``progress`` (a tqdm bar, optional) is reset to the number of frames to code, then advanced."""
    frame_codecs = (edgecodec_codecs(codec, plan.qualities, round(plan.key_interval_s * clip.rate), plan.chain)
                    if codec else [])
    images, notices = image_codecs([k for k in IMAGE_KEYS if k in plan.codecs], plan.image_qualities, plan.threads)
    by_key = {c.key: c for c in frame_codecs + images}
    by_key.update({c.key: c for c in ffmpeg.video_codecs(clip.rate, plan.crfs)})
    keys = [k for k in CODEC_NAMES if k in plan.codecs and k in by_key]
    tick = progress.update if progress is not None else (lambda n: None)
    if progress is not None:
        progress.reset(total=len(clip.frames) * sum(len(by_key[k].settings) for k in keys))
    if tools is None and any(isinstance(by_key[k], ffmpeg.VideoCodec) for k in keys):
        tools = ffmpeg.find_ffmpeg()
    results = {}
    with ffmpeg.workdir() as tmp:
        for key in keys:
            c = by_key[key]
            if progress is not None:
                progress.set_description(c.label)
            if isinstance(c, ffmpeg.VideoCodec):
                results[key] = run_video_codec(c, clip, plan.threads, tools, Path(tmp), tick)
            else:
                results[key] = run_frame_codec(c, clip, tick)
    return results, notices


def _point(clip: Clip, setting: float, frame_bytes: list[int], frame_psnr: list[float], key_frames: int,
           times: tuple[float, float], skipped: float | None = None) -> dict:
    """One R-D point: totals, rates, mean PSNR, per-frame lists, timings in ms per frame."""
    n, (h, w) = len(frame_psnr), clip.size
    total = sum(frame_bytes)
    return {"setting": setting, "frames": n, "bytes": total, "kbit_s": 8 * total * clip.rate / n / 1000,
            "bpp": 8 * total / (n * h * w), "psnr": float(np.mean(frame_psnr)), "key_frames": key_frames,
            "skipped_share": skipped, "encode_ms": 1000 * times[0] / n, "decode_ms": 1000 * times[1] / n,
            "frame_bytes": frame_bytes, "frame_psnr": frame_psnr}


def run_frame_codec(codec: FrameCodec, clip: Clip, tick: Callable[[int], None] = lambda n: None) -> dict:
    """Every setting of a frame codec over the clip, frames coded and decoded in order."""
    encode, decode = codec.start(codec.settings[len(codec.settings) // 2])
    for frame in clip.frames[:2]:  # warm-up (a key and a delta frame), not timed
        decode(encode(frame)[0])
    points = []
    for setting in codec.settings:
        encode, decode = codec.start(setting)
        sizes, psnrs, kinds, skipped, enc_s, dec_s = [], [], [], [], 0.0, 0.0
        for frame in clip.frames:
            t0 = time.perf_counter()
            data, kind, skip = encode(frame)
            t1 = time.perf_counter()
            decoded = decode(data)
            dec_s, enc_s = dec_s + time.perf_counter() - t1, enc_s + t1 - t0
            if decoded.shape != frame.shape:
                raise RuntimeError(f"{codec.label} decoded a frame to {decoded.shape}, expected {frame.shape}")
            sizes.append(len(data))
            psnrs.append(psnr_u8(frame, decoded))
            kinds.append(kind)
            if kind == bitstream.DELTA:
                skipped.append(skip)
        share = float(np.mean(skipped)) if skipped else None
        points.append(_point(clip, setting, sizes, psnrs, kinds.count(bitstream.KEY), (enc_s, dec_s),
                             share if codec.key == "edgecodec" else None))
        tick(len(clip.frames))
    return {"label": codec.label, "parameter": codec.parameter, "description": codec.description,
            "points": points}


def run_video_codec(codec: ffmpeg.VideoCodec, clip: Clip, threads: int, tools: tuple[str, str], workdir: Path,
                    tick: Callable[[int], None] = lambda n: None) -> dict:
    """Every CRF of an ffmpeg codec over the clip."""
    points = []
    for crf in codec.settings:
        coded = ffmpeg.code(codec, clip.frames, clip.rate, crf, threads, workdir, tools)
        try:
            psnrs = [psnr_u8(a, b) for a, b in zip(clip.frames, coded.decoded)]
        finally:
            coded.release()
        if coded.stream_bytes != sum(coded.packet_bytes):
            raise RuntimeError(f"{codec.label} crf {crf:g}: packets add up to {sum(coded.packet_bytes)} bytes, "
                               f"the stream has {coded.stream_bytes}")
        point = _point(clip, crf, coded.packet_bytes, psnrs, coded.key_frames, (coded.encode_s, coded.decode_s))
        points.append({**point, "stream_bytes": coded.stream_bytes, "command": coded.command})
        tick(len(clip.frames))
    return {"label": codec.label, "parameter": "crf", "description": f"{codec.encoder} {' '.join(codec.options)}",
            "points": points}


def curve(result: dict) -> dict[str, list[float]]:
    """bpp and mean PSNR per setting of a codec's result."""
    return {k: [p[k] for p in result["points"]] for k in ("bpp", "psnr")}


def bd_table(results: dict[str, dict]) -> dict[str, dict[str, dict]]:
    """reference key -> codec key -> BD-rate / BD-PSNR / overlaps of that codec against the reference."""
    table = {}
    for ref in (k for k in EDGECODEC_KEYS if k in results):
        table[ref] = {}
        for key, result in results.items():
            if key != ref:
                bd = bd_against(curve(result), curve(results[ref]))
                table[ref][key] = {"label": result["label"],
                                   **{k: v for k, v in bd.items() if k != "bd_rate_msssim_pct"}}
    return table


def _cell(row: dict) -> str:
    span = row["psnr_overlap_db"]
    if row["bd_rate_psnr_pct"] is None:
        return "n/a (no PSNR overlap)" if span is None else f"n/a (only {span[0]:.1f}-{span[1]:.1f} dB)"
    return f"{row['bd_rate_psnr_pct']:+.1f}% ({span[0]:.1f}-{span[1]:.1f} dB)"


def summary_lines(results: dict[str, dict], bd: dict[str, dict[str, dict]]) -> list[str]:
    """The per-setting table, then BD-rate against each edgecodec curve with its PSNR overlap."""
    lines = [f"{'codec':<32}{'setting':>8}{'kbit/s':>10}{'bpp':>8}{'PSNR':>7}{'keys':>6}{'skip':>6}"
             f"{'enc ms':>8}{'dec ms':>8}"]
    for r in results.values():
        for p in r["points"]:
            psnr = "inf" if p["psnr"] is None or not np.isfinite(p["psnr"]) else f"{p['psnr']:.2f}"
            skip = "" if p["skipped_share"] is None else f"{p['skipped_share']:.0%}"
            lines.append(f"{r['label']:<32}{p['setting']:>8g}{p['kbit_s']:>10.1f}{p['bpp']:>8.4f}{psnr:>7}"
                         f"{p['key_frames']:>6}{skip:>6}{p['encode_ms']:>8.1f}{p['decode_ms']:>8.1f}")
    if bd:
        refs = list(bd)
        lines += ["", "BD-rate of each codec against edgecodec (PCHIP, log bpp vs PSNR, over the PSNR overlap; "
                      "negative: fewer bits)",
                  (f"{'codec':<32}" + "".join(f"{'vs ' + results[r]['label']:<32}" for r in refs)).rstrip()]
        for key, r in results.items():
            cells = ["-" if key == ref else _cell(bd[ref][key]) for ref in refs]
            lines.append(f"{r['label']:<32}" + "".join(f"{c:<32}" for c in cells).rstrip())
    return lines


def rd_svg(results: dict[str, dict], title: str) -> bytes:
    """SVG of bpp (log scale) against mean PSNR: edgecodec's two curves bold black, the others thin."""
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    from .plots import EDGECODEC_STYLE

    fig = Figure(figsize=(8, 6))
    FigureCanvasSVG(fig)
    ax = fig.add_subplot(1, 1, 1)
    for key, r in results.items():
        c = curve(r)
        pts = sorted((b, v) for b, v in zip(c["bpp"], c["psnr"]) if b and v is not None and np.isfinite(v))
        if not pts:
            continue
        x, y = zip(*pts)
        if key in EDGECODEC_KEYS:
            ax.plot(x, y, label=r["label"], **{**EDGECODEC_STYLE, "linestyle": "-" if key == "edgecodec" else "--"})
        else:
            ax.plot(x, y, label=r["label"], linewidth=1.6, marker="s", markersize=4)
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel (real bytes, log scale)")
    ax.set_ylabel("PSNR RGB (dB, mean over frames)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()

