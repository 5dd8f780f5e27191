"""Malformed HTTP, refused by aiohttp before any handler runs: a JSON 400, one log line, a count, and
never the request's bytes (here: a bearer token) in the answer or the server's log."""
from __future__ import annotations

import json
import socket
import time

import pytest

from edgecodec.server.redact import redact
from harness import Server, http, tokens

REQUEST = "GET /api/v1/devices HTTP/1.1\r\nHost: x\r\n"


def malformed(token: str) -> list[bytes]:
    """A token file with Windows line endings, a bare-LF client, control characters, headers over 8,190 bytes."""
    auth = f"Authorization: Bearer {token}"
    return [f"{REQUEST}{auth}\r\r\n\r\n".encode(),
            REQUEST.replace("\r\n", "\n").encode() + f"{auth}\n\n".encode(),
            f"{REQUEST}{auth}\r\nX-A: a\x01b\r\n\r\n".encode(),
            f"{REQUEST}{auth}\x7f\r\n\r\n".encode(),
            f"{REQUEST}{auth}{'A' * 9000}\r\n\r\n".encode(),
            f"{REQUEST}{auth}\r\nX-B: {'B' * 9000}\r\n\r\n".encode(),
            f"GET /api/v1/devices?{token} HTTP/1.1 x\r\nHost: x\r\n\r\n".encode()]


def exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, read the answer until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def wait_for_metric(url: str, needle: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = http("GET", url + "/metrics")[1].decode()
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


@pytest.fixture
def server(tmp_path, tiny_ckpt):
    data = tmp_path / "data"
    device, viewer = tokens(data)
    server = Server(data, tiny_ckpt, None, "--decode-workers", "0").start()
    yield server, device, viewer
    server.stop()


def test_malformed_requests_get_json_and_one_log_line_without_the_token(server):
    server, _, viewer = server
    requests = malformed(viewer)
    for data in requests:
        head, _, body = exchange(server.port, data).partition(b"\r\n\r\n")
        assert head.split(b"\r\n")[0].endswith(b" 400 Bad Request"), head
        assert b"Content-Type: application/json" in head and viewer[4:20].encode() not in body
        assert json.loads(body)["reason"] == "malformed_request", body
    count = f'edgecodec_server_requests_rejected_total{{reason="malformed_request"}} {len(requests)}.0'
    assert count in wait_for_metric(server.url, count)
    server.stop()
    log = server.log.read_text()
    assert viewer[4:20] not in log and "Traceback" not in log, log
    assert len([line for line in log.splitlines() if "malformed HTTP request" in line]) == len(requests), log
    assert len([line for line in log.splitlines() if "edgecodec.access" in line and " 400 " in line]) == len(requests)
    assert "ERROR" not in log, log


def test_redact_removes_bearer_credentials_and_tokens():
    line = "b'Authorization: Bearer ecb_AbC-123_xyz0123456789\\r' and ecb_Zz0-9_aaaaaaaaaa, bearer   s3cr3t"
    assert redact(line) == "b'Authorization: Bearer [redacted] and [redacted], bearer   [redacted]"


def test_truncated_and_broken_upload_bodies_are_counted_without_a_traceback(server):
    server, device, _ = server
    head = (f"POST /api/v1/devices/cam1/frames/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {device}\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:  # the client goes away mid-body
        s.sendall(head + b"Content-Length: 100000\r\n\r\n" + b"x" * 1000)
    undecodable = b"Content-Encoding: gzip\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnot!"
    answer = exchange(server.port, head + undecodable)
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 400") and json.loads(body)["reason"] == "malformed_request", answer
    needles = ['edgecodec_server_requests_rejected_total{reason="truncated"} 1.0',
               'edgecodec_server_requests_rejected_total{reason="malformed_request"} 1.0']
    metrics = wait_for_metric(server.url, needles[0])
    assert all(n in metrics for n in needles), metrics
    server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log and device[4:20] not in log, log
