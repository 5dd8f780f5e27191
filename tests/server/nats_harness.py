"""Scaled-mode helpers: test frames and ``edgecodec worker`` processes (nats-server: conftest.nats_url)."""
from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgecodec.checkpoint import from_checkpoint
from edgecodec import codec
from harness import ENV, Server, tokens


def frame(ckpt: str, seed: int) -> bytes:
    """A valid 64x48 frame of the model in ``ckpt``."""
    img = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return codec.Codec(from_checkpoint(ckpt)).encode(img, 50)


def start_worker(log: Path, nats_url: str, data: Path, ckpt: str) -> subprocess.Popen:
    """``edgecodec worker`` (credentials from $EDGECODEC_NATS_PASSWORD_FILE in ENV), stderr to ``log``."""
    return subprocess.Popen([sys.executable, "-m", "edgecodec", "worker", "--nats", nats_url, "--data", str(data),
                             "--model", ckpt], env=ENV, stdout=subprocess.DEVNULL, stderr=open(log, "ab"))


def stop_worker(worker: subprocess.Popen | None) -> None:
    """SIGTERM, and SIGKILL (then an error) when it does not stop within 20 s."""
    if worker is None or worker.poll() is not None:
        return
    worker.terminate()
    try:
        worker.wait(20)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise


@contextlib.contextmanager
def scaled_site(tmp_path: Path, nats_url: str, ckpt: str) -> Iterator[tuple[Server, Server, str, str]]:
    """Two ingest nodes and one decode worker sharing ``tmp_path/data``: (node a, node b, device token,
    viewer token); stopped afterwards."""
    data = tmp_path / "data"
    device, viewer = tokens(data)
    nodes = [Server(data, ckpt, None, "--nats", nats_url) for _ in range(2)]
    worker = start_worker(tmp_path / "worker.log", nats_url, data, ckpt)
    try:
        a, b = (node.start() for node in nodes)
        yield a, b, device, viewer
    finally:
        for node in nodes:
            node.stop()
        stop_worker(worker)
