"""HTTPS end to end: the server with --tls-cert/--tls-key, a daemon trusting a private CA (ca_file)."""
from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from harness import ENV, VTEST, daemon_cmd, finish_daemon, free_port, make_video, start_daemon, tokens

pytestmark = pytest.mark.usefixtures("one_thread")


def make_ca_and_cert(folder):
    """A private CA and a server certificate for 127.0.0.1 signed by it (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make test certificates")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=folder)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=edgecodec test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


def test_daemon_uploads_over_https_to_a_server_with_a_private_ca(tmp_path, tiny_ckpt):
    ca, cert, key = make_ca_and_cert(tmp_path)
    data = tmp_path / "data"
    device_token, _ = tokens(data)
    (tmp_path / "token").write_text(device_token)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "edgecodec", "serve", "--data", str(data), "--listen",
                               f"127.0.0.1:{port}", "--model", tiny_ckpt, "--tls-cert", str(cert), "--tls-key",
                               str(key)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"https://127.0.0.1:{port}"
    trusted = ssl.create_default_context(cafile=str(ca))
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", context=trusted, timeout=5) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "HTTPS server did not start"
                time.sleep(0.2)
        with pytest.raises(urllib.error.URLError):  # an untrusted client refuses the private certificate
            urllib.request.urlopen(url + "/healthz", context=ssl.create_default_context(), timeout=5)
        video = VTEST if VTEST.is_file() else make_video(tmp_path / "clip.avi", 4, 768, 576)
        (tmp_path / "device.toml").write_text(f'ca_file = "{ca}"\n')
        cmd = daemon_cmd(video, url, tmp_path / "token", tmp_path / "spool", tiny_ckpt, "--max-frames", "4",
                         "--fps", "0", "--config", str(tmp_path / "device.toml"))
        summary = finish_daemon(start_daemon(cmd, tmp_path / "daemon.log"), tmp_path / "daemon.log")
        assert summary["uploaded"] == 4 and summary["upload_errors"] == 0
    finally:
        server.terminate()
        server.wait(20)
