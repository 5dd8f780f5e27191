"""The whole loop on one machine: a local server, the daemon streaming a video to it, a summary.

Reports frames stored, mean bpp and kbit/s at the chosen frame rate, PSNR of the server's
decodes against the captured frames, and JPEG's size at the same PSNR (quality searched per
frame with cv2.imencode), then the viewer's URL.
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

VTEST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "video" / "vtest.avi"


def run_stream_demo(frames: int = 100, model: str | None = None, quality: float = 50.0, fps: float = 10.0,
                    serve_for: float = 0.0, source: str | None = None) -> dict:
    """Stream ``frames`` frames of vtest.avi (or ``source``) through a local server; print and return the summary.

    ``serve_for`` keeps the server (and the viewer URL) up that many seconds after the summary."""
    from ..edge.config import DaemonConfig
    from ..edge.daemon import run_daemon
    from ..server.tokens import TokenStore

    work = Path(tempfile.mkdtemp(prefix="edgecodec-demo-"))
    video = Path(source) if source else VTEST if VTEST.is_file() else _make_video(work / "clip.avi", frames)
    store = TokenStore(work / "data")
    (work / "device.token").write_text(store.add("demo-cam"))
    viewer = store.add("demo-viewer", "viewer")
    port = _free_port()
    server = _start_server(work / "data", port, model)
    try:
        cfg = DaemonConfig(source=str(video), server=f"http://127.0.0.1:{port}", device_id="demo-cam",
                           token_file=work / "device.token", spool=work / "spool", fps=0, quality=quality,
                           max_frames=frames, model=model, http_listen="127.0.0.1:0", drain_timeout_s=300)
        daemon = run_daemon(cfg)
        summary = _measure(f"http://127.0.0.1:{port}", viewer, video, frames, fps)
        summary.update(daemon=daemon, viewer_url=f"http://127.0.0.1:{port}/#token={viewer}")
        _print(summary, fps)
        if serve_for > 0:
            print(f"serving the viewer for {serve_for:.0f} s (Ctrl-C to stop)")
            time.sleep(serve_for)
        return summary
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def _measure(base: str, viewer: str, video: Path, frames: int, fps: float) -> dict:
    """Compare the server's decodes with the captured frames (seq i is frame i: a fresh spool, no drops)."""
    listing = json.loads(_get(base + frames_path("demo-cam") + "?limit=10000", viewer))["frames"]
    cap = cv2.VideoCapture(str(video))
    bpp, psnr, jpeg_bpp, sizes, jpeg_sizes = [], [], [], [], []
    for seq in range(len(listing)):
        ok, bgr = cap.read()
        rec = listing[seq]
        if not ok or rec["seq"] != seq:
            raise RuntimeError(f"frame {seq} missing from the server or the video")
        png = _get(base + rec["png_url"], viewer)
        decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        pixels = bgr.shape[0] * bgr.shape[1]
        psnr.append(_psnr(bgr, decoded))
        bpp.append(8 * rec["size"] / pixels)
        jpeg_sizes.append(_jpeg_size_at_psnr(bgr, psnr[-1]))
        jpeg_bpp.append(8 * jpeg_sizes[-1] / pixels)
        sizes.append(rec["size"])
    mean = lambda v: float(np.mean(v)) if v else float("nan")
    return {"frames_requested": frames, "frames_stored": len(listing), "mean_bpp": mean(bpp),
            "kbit_s": mean(sizes) * 8 * fps / 1000, "mean_psnr_db": mean(psnr), "jpeg_mean_bpp": mean(jpeg_bpp),
            "jpeg_kbit_s": mean(jpeg_sizes) * 8 * fps / 1000}


def _jpeg_size_at_psnr(bgr: np.ndarray, target: float) -> int:
    """Bytes of the smallest JPEG (quality 1..100, binary search) whose PSNR reaches ``target``."""
    lo, hi, best = 1, 100, None
    while lo <= hi:
        q = (lo + hi) // 2
        data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q])[1]
        if _psnr(bgr, cv2.imdecode(data, cv2.IMREAD_COLOR)) >= target:
            best, hi = len(data), q - 1
        else:
            lo = q + 1
    return best if best is not None else len(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])[1])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0 ** 2 / mse))


def _print(s: dict, fps: float) -> None:
    print(f"frames stored: {s['frames_stored']} of {s['frames_requested']}")
    print(f"edgecodec: {s['mean_bpp']:.3f} bpp, {s['kbit_s']:.0f} kbit/s at {fps:g} fps, "
          f"PSNR of the server's decodes {s['mean_psnr_db']:.2f} dB")
    print(f"JPEG at the same PSNR: {s['jpeg_mean_bpp']:.3f} bpp, {s['jpeg_kbit_s']:.0f} kbit/s "
          f"({s['jpeg_mean_bpp'] / s['mean_bpp']:.2f}x the size)" if s["mean_bpp"] else "JPEG: no frames")
    print(f"viewer: {s['viewer_url']}")


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


def _make_video(path: Path, frames: int) -> Path:
    """A moving test pattern, when the shared vtest.avi is absent."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (768, 576))
    yy, xx = np.mgrid[0:576, 0:768]
    for i in range(frames):
        writer.write(np.stack([(xx + 4 * i) % 256, (yy + 2 * i) % 256, (xx + yy) % 256], 2).astype(np.uint8))
    writer.release()
    return path
