"""`edgecodec doctor` on bad settings: a FAIL line for that check, the others still run; bad files named."""
from __future__ import annotations

import json
import socket
import threading

import pytest

from edgecodec.edge.doctor import FAIL, Target, check_server

NAMES = ["tensorrt", "gpu", "camera", "server", "token", "disk"]


def doctor_json(cli, *flags) -> tuple[int, dict[str, tuple[str, str]], list[str]]:
    res = cli("doctor", "--json", *flags)
    report = json.loads(res.out)
    return res.rc, {c["name"]: (c["status"], c["message"]) for c in report["checks"]}, res.err_lines


@pytest.mark.parametrize("url", ["notaurl", "http://a b", "http://[::1"])
def test_a_malformed_server_url_fails_that_check_only(cli, url):
    rc, checks, err = doctor_json(cli, "--server", url)
    assert rc == 1 and list(checks) == NAMES and err == ["edgecodec: error: doctor: 1 check(s) failed: server"]
    status, message = checks["server"]
    assert status == FAIL and "is not a server URL" in message and "\n" not in message, message


def test_a_server_that_does_not_speak_http_fails_in_one_line():
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"garbage\r\nmore\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        check = check_server(Target(server=f"http://127.0.0.1:{listener.getsockname()[1]}"), timeout=10)
    finally:
        thread.join(10)
        listener.close()
    assert check.status == FAIL and "cannot reach" in check.message and "\n" not in check.message, check


def test_a_spool_that_is_a_file_fails(cli, tmp_path):
    spool = tmp_path / "spool"
    spool.write_bytes(b"not a directory")
    for given in (spool, spool / "below"):
        rc, checks, _ = doctor_json(cli, "--spool", given)
        assert rc == 1 and checks["disk"][0] == FAIL and f"{spool} is not a directory" in checks["disk"][1]


@pytest.mark.parametrize("flags", [(), ("--print", "config")])
def test_a_binary_config_file_is_named(cli, tmp_path, flags):
    config = tmp_path / "crop.png"
    config.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    res = cli("doctor", "--config", config, *flags)
    assert res.rc == 1 and res.err_lines == [f"edgecodec: error: {config}: not valid TOML (not UTF-8 text)"]
