"""The upload role against servers on loopback: a frame leaves the spool only on the ingest
server's acknowledgement of that frame (its device, sequence number and content hash)."""
from __future__ import annotations

import json
import threading

import pytest
from edge_servers import acknowledgement, crafted_frame, fake_server, ingest_server

from edgecodec.edge.config import DaemonConfig
from edgecodec.edge.metrics import DaemonMetrics
from edgecodec.edge.spool import Spool
from edgecodec.edge.uploader import Backoff, IngestClient, Uploader
from edgecodec.server.tokens import TokenStore

DEVICE = "cam1"
JSON = "application/json"
NOT_ACKS = {  # 200s and 201s that do not say "stored this frame"
    "captive portal": lambda d, s, h: (200, "text/html", b"<html><body>Accept the terms to continue</body></html>"),
    "another seq": lambda d, s, h: (201, JSON, acknowledgement(d, s + 1, h)),
    "another hash": lambda d, s, h: (201, JSON, acknowledgement(d, s, "0" * 64)),
    "another device": lambda d, s, h: (200, JSON, acknowledgement("cam2", s, h, "exists")),
    "no status": lambda d, s, h: (201, JSON, json.dumps({"device_id": d, "seq": s, "sha256": h}).encode()),
    "a proxy's JSON": lambda d, s, h: (200, JSON, b'{"ok": true}'),
}


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_bytes(b"ecb_device-token\r\n")  # as saved by a Windows editor
    return path


def spooled(spool: Spool, count: int) -> Spool:
    for seq in range(count):
        assert spool.put(seq, 1000 + seq, crafted_frame(16, 16, bytes([seq])))
    return spool


def upload(spool: Spool, url: str, token_file, abort: threading.Event | None = None) -> dict:
    """Run the upload role until the spool is empty or ``abort``; its counters."""
    metrics = DaemonMetrics()
    client = IngestClient(url, DEVICE, token_file, timeout=30)
    Uploader(spool, client, metrics, Backoff(0.001, 0.002), lambda: len(spool) == 0, abort or threading.Event()).run()
    return metrics.snapshot()


@pytest.mark.parametrize("answer", NOT_ACKS.values(), ids=NOT_ACKS)
def test_a_200_that_is_not_the_acknowledgement_of_the_frame_keeps_it(tmp_path, token_file, answer):
    spool, stop = spooled(Spool(tmp_path / "spool", 1 << 20), 3), threading.Event()
    with fake_server(answer, after=4, done=stop) as (url, _):
        counts = upload(spool, url, token_file, stop)
    assert (counts["uploaded"], counts["rejected"], counts["upload_errors"]) == (0, 0, 4)
    assert len(spool) == 3 and len(list((tmp_path / "spool").glob("*.ecb"))) == 3


def test_the_acknowledgement_removes_the_frame_and_the_token_goes_without_its_crlf(tmp_path, token_file):
    spool, stop = spooled(Spool(tmp_path / "spool", 1 << 20), 3), threading.Event()
    with fake_server(lambda d, s, h: (201, JSON, acknowledgement(d, s, h)), after=3, done=stop) as (url, seen):
        counts = upload(spool, url, token_file, stop)
    assert (counts["uploaded"], counts["upload_errors"], len(spool)) == (3, 0, 0)
    assert [h["Authorization"] for h in seen] == ["Bearer ecb_device-token"] * 3


def test_the_ingest_server_acknowledges_stored_and_repeated_frames(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "token").write_text(TokenStore(data).add(DEVICE, "device") + "\r\n")
    spool = spooled(Spool(tmp_path / "spool", 1 << 20), 3)
    with ingest_server(data) as url:
        first = upload(spool, url, tmp_path / "token")
        spool.put(1, 1001, crafted_frame(16, 16, bytes([1])))  # a retry whose 201 was lost: 200 "exists"
        again = upload(spool, url, tmp_path / "token")
    assert (first["uploaded"], first["upload_errors"], again["uploaded"], again["upload_errors"]) == (3, 0, 1, 0)
    assert len(spool) == 0 and len(list((data / "frames").rglob("*.ecb"))) == 3


def test_an_8k_frame_the_configuration_allows_reaches_the_server(tmp_path):
    """8192x8192 (the largest profile resolution) is over the 16.7 M-pixel default: with max_pixels
    raised in the configuration, the spool keeps it and a server with the same limit stores it."""
    data = tmp_path / "data"
    (tmp_path / "token").write_text(TokenStore(data).add(DEVICE, "device"))
    cfg = DaemonConfig(source="0", server="http://127.0.0.1:9", device_id=DEVICE, token_file=tmp_path / "token",
                       spool=tmp_path / "spool", max_pixels=8192 * 8192)
    spool = Spool(cfg.spool, cfg.spool_max_bytes, max_pixels=cfg.max_pixels)
    assert spool.put(0, 1000, crafted_frame(8192, 8192))
    with ingest_server(data, max_pixels=cfg.max_pixels) as url:
        counts = upload(spool, url, cfg.token_file)
    assert (counts["uploaded"], counts["corrupt"], len(spool)) == (1, 0, 0)
