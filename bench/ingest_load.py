"""Ingest server under load: N simulated cameras on loopback (embedded mode, then scaled mode).

Each camera uploads a real 768x576 scene-coded stream (consecutive frames of the surveillance
video, coded once by the stream encoder: a key frame, then delta frames) as fast as the server
acknowledges them; then the decode pool's throughput is measured for key frames (the same frames
coded intra) and for delta frames, and a real daemon's capture-to-stored latency. Usage:

    python bench/ingest_load.py [--devices 8] [--frames 40] [--decode-workers 2] [--model M]
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "server"))

from harness import VTEST, Server, daemon_cmd, finish_daemon, http, make_video, start_daemon, stored_frames  # noqa: E402,E501

from edgecodec.codec.stream import StreamEncoder, StreamPolicy  # noqa: E402
from edgecodec.common.protocol import METRICS, frame_path  # noqa: E402
from edgecodec.runtime import load_codec  # noqa: E402
from edgecodec.server.tokens import TokenStore  # noqa: E402


def encoded_frames(model: str | None, count: int, work: Path, intra: bool) -> list[bytes]:
    """``count`` consecutive frames of the video coded as one stream (``intra``: every frame a key frame)."""
    video = VTEST if VTEST.is_file() else make_video(work / "clip.avi", count, 768, 576)
    cap = cv2.VideoCapture(str(video))
    encoder = StreamEncoder(load_codec(model), 50.0, StreamPolicy(intra=intra))
    out: list[bytes] = []
    while len(out) < count:
        ok, bgr = cap.read()
        if not ok:
            break
        out.append(encoder.encode(bgr[:, :, ::-1].copy(), len(out)).data)
    return out


def upload_all(url: str, token: str, device: str, frames: list[bytes], latencies: list[float]) -> None:
    for seq, data in enumerate(frames):
        t = time.perf_counter()
        status, body = http("POST", url + frame_path(device, seq), token, data,
                            {"X-Edgecodec-Capture-Us": str(int(time.time() * 1e6))})
        latencies.append(time.perf_counter() - t)
        if status not in (200, 201):
            raise RuntimeError(f"{device} seq {seq}: HTTP {status} {body[:200]!r}")


def decoded(url: str) -> int:
    _, body = http("GET", url + METRICS)
    m = re.search(rb"^edgecodec_server_frames_decoded_total ([0-9.e+]+)$", body, re.M)
    return int(float(m.group(1))) if m else 0


def ingest(label: str, urls: list[str], toks: dict[str, str], frames: list[bytes]) -> None:
    """Every camera uploads all frames as fast as acknowledgements come back (cameras spread over nodes)."""
    lat: list[float] = []
    threads = [threading.Thread(target=upload_all, args=(urls[i % len(urls)], t, d, frames, lat))
               for i, (d, t) in enumerate(toks.items())]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    lat.sort()
    print(f"ingest {label}: {len(toks)} cameras x {len(frames)} frames in {wall:.1f} s = {len(lat) / wall:.1f} "
          f"frames/s acknowledged; upload latency median {1e3 * lat[len(lat) // 2]:.0f} ms, "
          f"p95 {1e3 * lat[int(0.95 * len(lat))]:.0f} ms")


def nats_ingest(args: argparse.Namespace, work: Path, frames: list[bytes]) -> None:
    """The same load on two stateless ingest nodes joined by a local nats-server (JetStream)."""
    from harness import free_port

    port = free_port()
    nats = subprocess.Popen(["nats-server", "-js", "-sd", str(work / "js"), "-a", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    data = work / "scaled"
    store = TokenStore(data)
    toks = {f"cam{i}": store.add(f"cam{i}") for i in range(args.devices)}
    model = args.model or "dkic-small"
    nodes = [Server(data, model, None, "--nats", f"nats://127.0.0.1:{port}", "--decode-workers", "0").start()
             for _ in range(2)]
    workers = [subprocess.Popen([sys.executable, "-m", "edgecodec", "worker", "--nats", f"nats://127.0.0.1:{port}",
                                 "--data", str(data), "--model", model], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for _ in range(args.decode_workers)]
    try:
        t0 = time.perf_counter()
        ingest("with NATS (2 nodes)", [n.url for n in nodes], toks, frames)
        viewer = store.add("viewer", "viewer")
        for device in toks:  # every frame's PNG, made by the NATS decode workers
            for seq in range(len(frames)):
                status, _ = http("GET", nodes[seq % 2].url + frame_path(device, seq, ".png"), viewer)
                if status != 200:
                    raise RuntimeError(f"{device} seq {seq}: PNG HTTP {status}")
        wall = time.perf_counter() - t0
        print(f"decode with NATS: {len(toks) * len(frames)} frames by {args.decode_workers} worker processes in "
              f"{wall:.1f} s = {len(toks) * len(frames) / wall:.2f} frames/s")
    finally:
        for proc in workers:
            proc.terminate()
            proc.wait(20)
        for n in nodes:
            n.stop()
        nats.terminate()
        nats.wait(10)


def daemon_latency(args: argparse.Namespace, work: Path) -> None:
    """A real daemon (capture, encode, spool, upload) at a camera's pace: capture-to-acknowledged time."""
    data = work / "latency"
    store = TokenStore(data)
    (work / "token").write_text(store.add("cam1"))
    viewer = store.add("viewer", "viewer")
    model = args.model or "dkic-small"
    server = Server(data, model, None, "--decode-workers", "0").start()
    video = VTEST if VTEST.is_file() else make_video(work / "clip.avi", args.frames, 768, 576)
    try:
        cmd = daemon_cmd(video, server.url, work / "token", work / "spool", model, "--max-frames",
                         str(args.frames), "--fps", str(args.fps))
        finish_daemon(start_daemon(cmd, work / "daemon.log"), work / "daemon.log", timeout=600)
        lags = sorted((f["received_us"] - f["capture_us"]) / 1e3 for f in stored_frames(server.url, viewer))
    finally:
        server.stop()
    print(f"daemon: {len(lags)} frames at {args.fps:g} fps, capture-to-acknowledged median {lags[len(lags) // 2]:.0f} ms, "
          f"p95 {lags[int(0.95 * len(lags))]:.0f} ms (includes the encode on this CPU)")


def decode_rate(args: argparse.Namespace, work: Path, label: str, frames: list[bytes]) -> None:
    """One camera's frames arrive and are decoded on arrival by the worker processes: frames/s."""
    data = work / f"decode-{label}"
    token = TokenStore(data).add("cam0")
    server = Server(data, args.model or "dkic-small", None, "--decode-workers", str(args.decode_workers)).start()
    try:
        t0 = time.perf_counter()
        upload_all(server.url, token, "cam0", frames, [])
        while decoded(server.url) < len(frames) and time.perf_counter() - t0 < 600:
            time.sleep(0.2)
        wall = time.perf_counter() - t0
        print(f"decode, {label}: {decoded(server.url)} frames decoded by {args.decode_workers} worker processes "
              f"in {wall:.1f} s = {decoded(server.url) / wall:.2f} frames/s")
    finally:
        server.stop()


def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="edgecodec-bench-"))
    frames = encoded_frames(args.model, args.frames, work, intra=False)
    intra = encoded_frames(args.model, args.frames, work, intra=True)
    stream_kbps, intra_kbps = (8 * statistics.mean(map(len, f)) * args.video_fps / 1e3 for f in (frames, intra))
    print(f"{len(frames)} consecutive frames of 768x576 at quality 50: stream mean "
          f"{statistics.mean(map(len, frames)) / 1024:.1f} KiB a frame ({stream_kbps:.0f} kbit/s at "
          f"{args.video_fps:g} fps), intra {statistics.mean(map(len, intra)) / 1024:.1f} KiB ({intra_kbps:.0f} kbit/s)")
    # 1) ingest alone: no decoders
    data = work / "ingest"
    store = TokenStore(data)
    toks = {f"cam{i}": store.add(f"cam{i}") for i in range(args.devices)}
    server = Server(data, args.model or "dkic-small", None, "--decode-workers", "0").start()
    try:
        ingest("embedded (SQLite)", [server.url], toks, frames)
    finally:
        server.stop()
    nats_ingest(args, work, frames)
    # 2) decode pool: key frames (the frames coded intra), then the stream's delta frames
    decode_rate(args, work, "key frames", intra)
    decode_rate(args, work, "stream (1 key frame, then delta frames)", frames)
    daemon_latency(args, work)
    subprocess.run(["rm", "-rf", str(work)], check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--decode-workers", type=int, default=2)
    ap.add_argument("--fps", type=float, default=1.0, help="the daemon's capture rate in the latency run")
    ap.add_argument("--video-fps", type=float, default=10.0, help="the frame rate the bitrates are given at "
                    "(vtest.avi's own: consecutive frames)")
    ap.add_argument("--model", default=None, help="checkpoint (default: the embedded starter model)")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
