"""Processes for the end-to-end tests: a server, a daemon, tokens, test videos, HTTP reads."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from edgecodec.server.tokens import TokenStore

VTEST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "video" / "vtest.avi"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_video(path: Path, frames: int, width: int = 128, height: int = 96) -> Path:
    """A small moving-pattern video (the stand-in when the shared data is absent, and for fault tests)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (width, height))
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(frames):
        img = np.stack([(xx * 2 + i * 5) % 256, (yy * 3 + i * 7) % 256, ((xx + yy + i * 11) % 256)], axis=2)
        writer.write(img.astype(np.uint8))
    writer.release()
    return path


def tokens(data: Path, device: str = "cam1") -> tuple[str, str]:
    """(device token, viewer token) registered in ``data``."""
    store = TokenStore(data)
    return store.add(device, "device"), store.add("viewer", "viewer")


def http(method: str, url: str, token: str | None = None, body: bytes | None = None,
         headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def stored_frames(base: str, viewer: str, device: str = "cam1") -> list[dict]:
    status, body = http("GET", f"{base}/api/v1/devices/{device}/frames?limit=10000", viewer)
    assert status == 200, body
    return json.loads(body)["frames"]


class Server:
    """``edgecodec serve`` in a subprocess on a fixed port (so that a restart keeps the URL)."""

    def __init__(self, data: Path, model: str, port: int | None = None, *extra: str):
        self.data, self.model, self.port, self.extra = data, model, port or free_port(), extra
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = data.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 90.0) -> "Server":
        cmd = [sys.executable, "-m", "edgecodec", "serve", "--data", str(self.data), "--listen",
               f"127.0.0.1:{self.port}", "--model", self.model, *self.extra]
        self.proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited: {self.log.read_text()[-2000:]}"
            try:
                if http("GET", self.url + "/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not start: {self.log.read_text()[-2000:]}")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()


def daemon_cmd(source: Path | str, server: str, token_file: Path, spool: Path, model: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "edgecodec", "daemon", "--source", str(source), "--server", server,
            "--device-id", "cam1", "--token-file", str(token_file), "--spool", str(spool), "--model", model,
            "--http-listen", "127.0.0.1:0", *extra]


def start_daemon(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=open(log, "ab"))


def finish_daemon(proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> dict:
    """Wait for a daemon; returns its summary (the JSON line on stdout)."""
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"daemon failed ({proc.returncode}): {log.read_text()[-3000:]}"
    return json.loads(out.decode().strip().splitlines()[-1])


def spooled_seqs(spool: Path) -> set[int]:
    return {int(p.name.split("-")[0]) for p in spool.glob("*.ecb")}
