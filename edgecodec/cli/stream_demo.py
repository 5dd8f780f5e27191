"""The whole loop on one machine: a local server, the daemon streaming a video to it, a summary.

The daemon codes key and delta frames (its defaults: a key frame at the start, every 60 s
and on scene changes). The summary: frames stored (key / delta), the stream's kbit/s over
these frames and over one key interval of the long run (``calibration.rate``), PSNR of the
server's decodes against the captured frames, then the same frames through edgecodec intra
(at the same quality), JPEG and x264 veryfast zerolatency (GOP 2 s) at the same PSNR
(``demo_baselines``), and the viewer's URL. Without a video, a generated clip: a fixed
textured scene with two blocks walking across it.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from ..common.protocol import HEALTH, frames_path
from ..edge.config import DaemonConfig
from ..quality import psnr_u8
from . import demo_baselines

KEY_INTERVAL_S = DaemonConfig.model_fields["key_interval_s"].default  # the daemon's, for the long-run estimate


def run_stream_demo(frames: int = 30, model: str | None = None, quality: float = 50.0,
                    serve_for: float = 0.0, source: str | None = None) -> dict:
    """Stream ``frames`` frames of ``source`` (default: a generated clip) through a local server; print and
    return the summary. ``serve_for`` keeps the server (and the viewer URL) up that many seconds after it."""
    from ..edge.config import DaemonConfig
    from ..edge.daemon import run_daemon
    from ..server.tokens import TokenStore

    work = Path(tempfile.mkdtemp(prefix="edgecodec-demo-"))
    video = Path(source) if source else _make_video(work / "clip.avi", frames)
    fps = _video_fps(video)
    store = TokenStore(work / "data")
    (work / "device.token").write_text(store.add("demo-cam"))
    viewer = store.add("demo-viewer", "viewer")
    port = _free_port()
    server = _start_server(work / "data", port, model)
    try:
        cfg = DaemonConfig(source=str(video), server=f"http://127.0.0.1:{port}", device_id="demo-cam",
                           token_file=work / "device.token", spool=work / "spool", fps=0, quality=quality,
                           key_interval_s=KEY_INTERVAL_S, max_frames=frames, model=model,
                           http_listen="127.0.0.1:0", drain_timeout_s=300)
        daemon = run_daemon(cfg)
        summary, captured = _measure(f"http://127.0.0.1:{port}", viewer, video, frames, fps)
        summary.update(_compare(summary, captured, quality, model, fps))
        summary.update(daemon=daemon, viewer_url=f"http://127.0.0.1:{port}/#token={viewer}")
        _print(summary, fps, quality)
        if serve_for > 0:
            print(f"serving the viewer for {serve_for:.0f} s (Ctrl-C to stop)")
            time.sleep(serve_for)
        return summary
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def _measure(base: str, viewer: str, video: Path, frames: int, fps: float) -> tuple[dict, list[np.ndarray]]:
    """The server's decodes against the captured frames (seq i is frame i: a fresh spool, no drops);
    (summary, the captured RGB frames)."""
    from ..calibration.rate import stream_row
    from ..codec.bitstream import DELTA, KEY

    listing = json.loads(_get(base + frames_path("demo-cam") + "?limit=10000", viewer))["frames"]
    cap = cv2.VideoCapture(str(video))
    captured, psnr, sizes, kinds = [], [], [], []
    for seq, rec in enumerate(listing):
        ok, bgr = cap.read()
        if not ok or rec["seq"] != seq:
            raise RuntimeError(f"frame {seq} missing from the server or the video")
        decoded = cv2.imdecode(np.frombuffer(_get(base + rec["png_url"], viewer), np.uint8), cv2.IMREAD_COLOR)
        captured.append(np.ascontiguousarray(bgr[:, :, ::-1]))
        psnr.append(psnr_u8(bgr, decoded))
        sizes.append(rec["size"])
        kinds.append(DELTA if rec["kind"] == "delta" else KEY)
    cap.release()
    if not listing:
        raise RuntimeError("the server stored no frames")
    pixels = captured[0].shape[0] * captured[0].shape[1]
    long_run = stream_row(0, sizes, kinds, fps, round(KEY_INTERVAL_S * fps))
    return {"frames_requested": frames, "frames_stored": len(listing), "key_frames": kinds.count(KEY),
            "delta_frames": kinds.count(DELTA), "mean_bpp": 8 * float(np.mean(sizes)) / pixels,
            "kbit_s": 8 * float(np.mean(sizes)) * fps / 1000, "long_run_kbit_s": long_run.mean_kbps,
            "mean_psnr_db": float(np.mean(psnr)), "frame_psnr": psnr}, captured


def _compare(s: dict, captured: list[np.ndarray], quality: float, model: str | None, fps: float) -> dict:
    """edgecodec intra at the same quality, JPEG and x264 at the same PSNR, on the same frames."""
    return {"intra_kbit_s": demo_baselines.intra_kbit_s(captured, quality, model, fps),
            "jpeg_kbit_s": demo_baselines.jpeg_kbit_s(captured, s["frame_psnr"], fps),
            "x264": demo_baselines.x264_at_psnr(captured, fps, s["mean_psnr_db"])}


def _print(s: dict, fps: float, quality: float) -> None:
    def times(kbit_s: float) -> str:
        return f"{kbit_s:.0f} kbit/s ({kbit_s / s['kbit_s']:.1f}x the stream)"

    print(f"frames stored: {s['frames_stored']} of {s['frames_requested']} ({s['key_frames']} key, "
          f"{s['delta_frames']} delta)")
    print(f"edgecodec stream: {s['kbit_s']:.0f} kbit/s at {fps:g} fps ({s['mean_bpp']:.3f} bpp; with a key frame "
          f"every {KEY_INTERVAL_S:g} s about {s['long_run_kbit_s']:.0f} kbit/s in the long run), "
          f"PSNR of the server's decodes {s['mean_psnr_db']:.2f} dB")
    print(f"edgecodec intra (every frame a key frame, quality {quality:g}): {times(s['intra_kbit_s'])}")
    print(f"JPEG at the same PSNR: {times(s['jpeg_kbit_s'])}")
    x = s["x264"]
    print(f"{x['label']} at the same PSNR: {times(x['kbit_s'])}, CRF {x['crf']}" if "kbit_s" in x
          else f"x264: not measured ({x['note']})")
    print(f"viewer: {s['viewer_url']}")


def _video_fps(video: Path) -> float:
    """The video's frame rate (10 when it does not say)."""
    cap = cv2.VideoCapture(str(video))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    cap.release()
    return fps if 0 < fps < 1000 else 10.0


def _start_server(data: Path, port: int, model: str | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "edgecodec", "serve", "--data", str(data), "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd + (["--model", model] if model else []), stderr=subprocess.DEVNULL)
    for _ in range(1200):
        if proc.poll() is not None:
            raise RuntimeError("the demo server failed to start")
        try:
            _get(f"http://127.0.0.1:{port}{HEALTH}", None)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the demo server did not start within 120 s")


def _get(url: str, token: str | None) -> bytes:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=300) as resp:
        return resp.read()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_video(path: Path, frames: int, width: int = 768, height: int = 576) -> Path:
    """A fixed camera's clip at 10 fps: a textured scene, two blocks walking across it (MJPG .avi)."""
    yy, xx = np.mgrid[0:height, 0:width]
    scene = np.stack([xx * 255 // width, yy * 255 // height, (xx ^ yy) & 0xFF], axis=2).astype(np.uint8)
    scene = cv2.GaussianBlur(scene, (5, 5), 0) // 2 + np.random.default_rng(0).integers(0, 64, scene.shape, np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (width, height))
    for t in range(frames):
        frame = scene.copy()
        for k, colour in enumerate(((40, 40, 200), (200, 220, 240))):
            x = (40 + 8 * t + width // 3 * k) % (width - 60)
            cv2.rectangle(frame, (x, height // 4 + 60 * k), (x + 50, height // 4 + 160 + 60 * k), colour, -1)
        writer.write(frame)
    writer.release()
    return path
