"""x264 and x265 through the ``ffmpeg`` command line (Debian's ffmpeg with libx264 / libx265).

Frames are piped to ffmpeg as rawvideo rgb24 at the sampled frame rate and coded with
``-pix_fmt yuv420p`` (ffmpeg's default swscale conversion) into a raw elementary stream
(.h264 / .hevc, parameter sets and SEI in-band), so the stream's bytes are every bit the
decoder needs. ``ffprobe -show_packets`` splits it into one packet per frame (decode
order); their sizes add up to the file's size. The stream is decoded back to rgb24 with
ffmpeg, one output frame per coded frame (``-fps_mode passthrough``).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

DEBIAN_PACKAGE = "ffmpeg"
DEFAULT_CRFS = (45.0, 40.0, 35.0, 30.0, 25.0, 20.0)  # lowest rate first


@dataclass(frozen=True)
class VideoCodec:
    """One ffmpeg encoder configuration, swept over CRF."""

    key: str
    label: str
    encoder: str  # libx264 or libx265
    options: tuple[str, ...]  # ffmpeg output options besides -crf and threads
    muxer: str  # elementary stream format: h264 or hevc
    settings: tuple[float, ...] = DEFAULT_CRFS


@dataclass
class Coded:
    """One coded sequence: the stream's packets, timings and the decoded frames (N, H, W, 3)."""

    packet_bytes: list[int]  # decode order
    key_frames: int
    stream_bytes: int
    encode_s: float
    decode_s: float
    decoded: np.ndarray
    command: list[str]
    files: tuple[Path, ...] = ()

    def release(self) -> None:
        """Drop the decoded frames and delete the stream and raw files."""
        self.decoded = np.zeros((0, 0, 0, 3), np.uint8)
        for path in self.files:
            path.unlink(missing_ok=True)


def video_codecs(rate: float, crfs: Sequence[float] | None = None) -> list[VideoCodec]:
    """The four configurations of BRIEF section 8; the real-time one has a key frame every 2 s."""
    gop = str(max(1, round(2 * rate)))
    specs = [
        VideoCodec("x264-zerolatency", f"x264 veryfast zerolatency g={gop}", "libx264",
                   ("-preset", "veryfast", "-tune", "zerolatency", "-g", gop), "h264"),
        VideoCodec("x264-medium", "x264 medium", "libx264", ("-preset", "medium"), "h264"),
        VideoCodec("x264-intra", "x264 all-intra", "libx264", ("-g", "1", "-preset", "medium"), "h264"),
        VideoCodec("x265-medium", "x265 medium", "libx265", ("-preset", "medium"), "hevc"),
    ]
    if crfs is not None:
        specs = [VideoCodec(s.key, s.label, s.encoder, s.options, s.muxer, tuple(crfs)) for s in specs]
    return specs


VIDEO_CODEC_NAMES = tuple(c.key for c in video_codecs(1.0))


def find_ffmpeg(encoders: Sequence[str] = ("libx264", "libx265")) -> tuple[str, str]:
    """Paths of ffmpeg and ffprobe; a one-line error naming the Debian package when either is missing."""
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if not ffmpeg or not ffprobe:
        missing = "ffmpeg" if not ffmpeg else "ffprobe"
        raise FileNotFoundError(f"{missing} not found: install the Debian package {DEBIAN_PACKAGE} "
                                f"(apt-get install {DEBIAN_PACKAGE}, or make system-deps)")
    listed = _run([ffmpeg, "-hide_banner", "-encoders"]).stdout.decode(errors="replace")
    for name in encoders:
        if f" {name} " not in listed:
            raise RuntimeError(f"{ffmpeg} has no {name} encoder: install the Debian package {DEBIAN_PACKAGE}")
    return ffmpeg, ffprobe


def ffmpeg_version(ffmpeg: str) -> str:
    """First line of ``ffmpeg -version``."""
    return _run([ffmpeg, "-version"]).stdout.decode(errors="replace").splitlines()[0].strip()


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    """Run a command to completion; RuntimeError with its last stderr line when it fails."""
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
    if done.returncode:
        raise RuntimeError(f"{Path(argv[0]).name} failed ({_last_line(done.stderr)})")
    return done


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def encode_command(ffmpeg: str, codec: VideoCodec, width: int, height: int, rate: float, crf: float,
                   threads: int, output: str) -> list[str]:
    """The ffmpeg command that codes rgb24 frames read from stdin into ``output``."""
    if codec.encoder == "libx265":
        threading = ["-x265-params", f"log-level=error:pools={threads}:frame-threads={min(threads, 4)}"]
    else:
        threading = ["-threads", str(threads)]
    return [ffmpeg, "-hide_banner", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{width}x{height}", "-r", f"{rate:g}", "-i", "-", "-c:v", codec.encoder, *codec.options,
            "-crf", f"{crf:g}", *threading, "-pix_fmt", "yuv420p", "-f", codec.muxer, output]


def _encode(argv: list[str], frames: Sequence[np.ndarray], log: Path) -> float:
    """Pipe the frames into the encoder; wall seconds."""
    start = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
        try:
            for frame in frames:
                proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        code = proc.wait()
    if code:
        raise RuntimeError(f"ffmpeg {argv[argv.index('-c:v') + 1]} failed ({_last_line(log.read_bytes())})")
    return time.perf_counter() - start


def packets(ffprobe: str, path: str | Path) -> list[tuple[int, bool]]:
    """(size in bytes, key frame) of every video packet of a stream file, in decode order."""
    out = _run([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size,flags",
                "-of", "json", str(path)]).stdout
    return [(int(p["size"]), "K" in p.get("flags", "")) for p in json.loads(out).get("packets", [])]


def decode(ffmpeg: str, path: str | Path, width: int, height: int, raw: Path) -> tuple[np.ndarray, float]:
    """Decode a stream file to rgb24 in ``raw``: (frames as a read-only memory map, wall seconds)."""
    start = time.perf_counter()
    _run([ffmpeg, "-hide_banner", "-v", "error", "-y", "-i", str(path), "-fps_mode", "passthrough",
          "-f", "rawvideo", "-pix_fmt", "rgb24", str(raw)])
    seconds = time.perf_counter() - start
    size = raw.stat().st_size
    if size % (width * height * 3):
        raise RuntimeError(f"ffmpeg decoded {size} bytes, not a whole number of {width}x{height} frames")
    if size == 0:
        return np.zeros((0, height, width, 3), np.uint8), seconds
    return np.memmap(raw, dtype=np.uint8, mode="r").reshape(-1, height, width, 3), seconds


def code(codec: VideoCodec, frames: Sequence[np.ndarray], rate: float, crf: float, threads: int,
         workdir: Path, tools: tuple[str, str]) -> Coded:
    """Encode, measure and decode ``frames`` with one codec at one CRF (files in ``workdir``)."""
    ffmpeg, ffprobe = tools
    height, width = frames[0].shape[:2]
    stream = workdir / f"{codec.key}-{crf:g}.{codec.muxer}"
    argv = encode_command(ffmpeg, codec, width, height, rate, crf, threads, str(stream))
    encode_s = _encode(argv, frames, workdir / "ffmpeg.log")
    sizes = packets(ffprobe, stream)
    raw = workdir / f"{codec.key}-{crf:g}.rgb"
    decoded, decode_s = decode(ffmpeg, stream, width, height, raw)
    if len(sizes) != len(frames) or len(decoded) != len(frames):
        raise RuntimeError(f"{codec.label} crf {crf:g}: {len(frames)} frames in, {len(sizes)} packets, "
                           f"{len(decoded)} decoded frames out")
    shown = [a if a != str(stream) else f"OUT.{codec.muxer}" for a in argv]
    return Coded([s for s, _ in sizes], sum(k for _, k in sizes), stream.stat().st_size, encode_s, decode_s,
                 decoded, ["ffmpeg", *shown[1:]], (stream, raw))


def workdir() -> tempfile.TemporaryDirectory:
    """A temporary folder for streams and decoded frames (removed on exit)."""
    return tempfile.TemporaryDirectory(prefix="edgecodec-eval-video-")
