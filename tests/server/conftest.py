"""Fixtures of the server tests: a real nats-server for scaled mode (TLS and authentication on), and a
streams of key and delta frames."""
from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from system_tools import require

from edgecodec.codec import bitstream
from edgecodec.codec.stream import StreamDecoder, StreamEncoder, StreamPolicy
from edgecodec.imageio import read_image
from edgecodec.runtime import load_codec
from edgecodec.server.nats_mode import PASSWORD_FILE_ENV
from harness import ENV, free_port
from test_tls import make_ca_and_cert

KEY_SEQ = 10  # the stream fixtures' key frame
CHAINED_REFS = [None, 10, 11, 12, 10, 14, 15, 10]  # the chained fixture's references: 10 <- 11 <- 12 <- 13, ...


@pytest.fixture(scope="session")
def nats_tls(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(CA, certificate, key) of the test nats-servers: a private CA, a certificate for 127.0.0.1."""
    return make_ca_and_cert(tmp_path_factory.mktemp("nats-tls"))


@pytest.fixture
def nats_url(tmp_path, monkeypatch, nats_tls) -> Iterator[str]:
    """A nats-server configured as docs/server.md says: TLS only, and JetStream in an account whose
    one user needs a password. The URL names the user; $EDGECODEC_NATS_PASSWORD_FILE names the
    password file and $SSL_CERT_FILE the CA, here and in the servers and workers the tests start."""
    binary = require("nats-server")
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


def noisy_stream(ckpt: str, root: Path, policy: StreamPolicy, count: int) -> tuple[list, list[np.ndarray]]:
    """``count`` frames (seq KEY_SEQ on) of a noisy static scene coded as a stream, and their local decodes."""
    codec = load_codec(ckpt, "torch")
    photo = read_image(str(root / "tests" / "data" / "kodim15.png"))[:64, :96]
    encoder = StreamEncoder(codec, 50, policy)
    rng = np.random.default_rng(0)
    frames = []
    for seq in range(KEY_SEQ, KEY_SEQ + count):
        noisy = np.clip(photo + rng.normal(0, 2.0, photo.shape), 0, 255).astype(np.uint8)
        frames.append(encoder.encode(noisy, seq))
    decoder = StreamDecoder(codec)
    return frames, [decoder.decode(f.data) for f in frames]


@pytest.fixture(scope="session")
def stream(tiny_ckpt, request) -> tuple[list[bytes], list[np.ndarray]]:
    """A key frame (seq 10) and three delta frames (11..13) in one chain (each references the frame before
    it: the default policy's), and their local decodes."""
    frames, local = noisy_stream(tiny_ckpt, request.config.rootpath, StreamPolicy(scene_change=1.0), 4)
    assert [f.kind for f in frames] == [bitstream.KEY] + 3 * [bitstream.DELTA]
    assert [f.ref_seq for f in frames] == [None, KEY_SEQ, KEY_SEQ + 1, KEY_SEQ + 2]
    return [f.data for f in frames], local


@pytest.fixture(scope="session")
def chained(tiny_ckpt, request) -> tuple[list[bytes], list[np.ndarray]]:
    """A key frame (seq 10) and seven delta frames in chains of three (CHAINED_REFS), and their local decodes."""
    frames, local = noisy_stream(tiny_ckpt, request.config.rootpath, StreamPolicy(scene_change=1.0, chain=3), 8)
    assert [f.ref_seq for f in frames] == CHAINED_REFS
    return [f.data for f in frames], local
