"""Fixtures of the server tests: a real nats-server for scaled mode, with TLS and authentication on."""
from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgecodec.server.nats_mode import PASSWORD_FILE_ENV
from harness import ENV, free_port
from test_tls import make_ca_and_cert


@pytest.fixture(scope="session")
def nats_tls(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(CA, certificate, key) of the test nats-servers: a private CA, a certificate for 127.0.0.1."""
    return make_ca_and_cert(tmp_path_factory.mktemp("nats-tls"))


@pytest.fixture
def nats_url(tmp_path, monkeypatch, nats_tls) -> Iterator[str]:
    """A nats-server configured as docs/server.md says: TLS only, and JetStream in an account whose
    one user needs a password. The URL names the user; $EDGECODEC_NATS_PASSWORD_FILE names the
    password file and $SSL_CERT_FILE the CA, here and in the servers and workers the tests start."""
    binary = shutil.which("nats-server")
    if binary is None:
        pytest.fail("nats-server is not installed: run `make system-deps` (Debian package nats-server)")
    ca, cert, key = nats_tls
    port, password = free_port(), secrets.token_hex(16)
    (tmp_path / "nats-password").write_text(password + "\n")
    (tmp_path / "nats.conf").write_text(
        f'listen: "127.0.0.1:{port}"\njetstream {{ store_dir: "{tmp_path / "jetstream"}" }}\n'
        f'tls {{ cert_file: "{cert}", key_file: "{key}" }}\n'
        f'accounts {{ EDGECODEC {{ jetstream: enabled\n'
        f'  users = [ {{ user: edgecodec, password: "{password}" }} ] }} }}\n')
    for name, value in ((PASSWORD_FILE_ENV, str(tmp_path / "nats-password")), ("SSL_CERT_FILE", str(ca))):
        monkeypatch.setenv(name, value)
        monkeypatch.setitem(ENV, name, value)
    proc = subprocess.Popen([binary, "-c", str(tmp_path / "nats.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    yield f"tls://edgecodec@127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
