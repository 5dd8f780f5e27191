"""server.toml + flags, and the token command."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from edgecodec.server.config import ServerConfig
from edgecodec.server.tokens import TOKEN_FILE, TokenStore


def test_every_field_has_a_description():
    assert all(f.description for f in ServerConfig.model_fields.values())


def test_validate_config(cli, tmp_path):
    good = tmp_path / "server.toml"
    good.write_text(f'data = "{tmp_path / "data"}"\nlisten = "0.0.0.0:8443"\ndecode_workers = 2\n')
    assert cli("serve", "--config", good, "--validate-config").rc == 0
    for text, needle in [('data = "/x"\nworkers = 2\n', "workers: Extra inputs"),
                         ('data = "/x"\ndecode_workers = -1\n', "decode_workers"),
                         (f'data = "/x"\ntls_cert = "{good}"\n', "tls_cert and tls_key go together"),
                         ('data = "/x"\nnats = "http://x"\n', "nats"),
                         ('data = "/x"\nlisten = "127.0.0.1:99999"\n',
                          "listen: port 99999 of '127.0.0.1:99999' is out of range (0..65535)")]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        result = cli("serve", "--config", bad, "--validate-config")
        assert result.rc == 1 and len(result.err_lines) == 1 and needle in result.err, result.err


def test_token_commands_store_only_hashes(cli, tmp_path):
    added = cli("token", "add", "cam1", "--data", tmp_path)
    token = added.out.strip()
    assert added.rc == 0 and token.startswith("ecb_") and len(token) > 40
    assert token not in (tmp_path / TOKEN_FILE).read_text()
    viewer = cli("token", "add", "ops", "--role", "viewer", "--data", tmp_path).out.strip()
    listing = cli("token", "list", "--data", tmp_path).out
    assert "cam1" in listing and "viewer" in listing and token not in listing and viewer not in listing
    store = TokenStore(tmp_path)
    assert store.authenticate(token).name == "cam1" and store.authenticate(viewer).role == "viewer"
    assert cli("token", "revoke", "cam1", "--data", tmp_path).rc == 0
    assert store.authenticate(token) is None and store.authenticate(viewer) is not None  # re-read at once
    again = cli("token", "revoke", "cam1", "--data", tmp_path)
    assert again.rc == 1 and again.err_lines == ["edgecodec: error: no active token for 'cam1'"]
    bad = cli("token", "add", "../etc", "--data", tmp_path)
    assert bad.rc == 1 and len(bad.err_lines) == 1
    assert len(json.loads((tmp_path / TOKEN_FILE).read_text())["tokens"]) == 2


def self_signed(folder, name: str):
    """A self-signed certificate and its private key (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make test certificates")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                    f"{name}.pem", "-days", "2", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True, cwd=folder)
    return folder / f"{name}.pem", folder / f"{name}.key"


def test_validate_config_names_the_tls_file_that_is_wrong(cli, tmp_path):
    cert, key = self_signed(tmp_path, "a")
    _, other_key = self_signed(tmp_path, "b")
    text = tmp_path / "notes.txt"
    text.write_text("not a certificate\n")
    serve = ("serve", "--data", tmp_path / "data", "--validate-config")
    assert cli(*serve, "--tls-cert", cert, "--tls-key", key).rc == 0
    for pair, needle in [((text, key), f"tls_cert {text} is not a PEM certificate"),
                         ((key, key), f"tls_cert {key} is not a PEM certificate"),
                         ((cert, text), f"tls_key {text} is not a PEM private key"),
                         ((cert, other_key), f"tls_cert {cert} and tls_key {other_key} are refused: key values")]:
        result = cli(*serve, "--tls-cert", pair[0], "--tls-key", pair[1])
        assert result.rc == 1 and len(result.err_lines) == 1 and needle in result.err, result.err


def test_validate_config_loads_the_model_the_server_decodes_with(cli, tmp_path, tiny_ckpt):
    text = tmp_path / "model.pt"
    text.write_text("hi\n")
    serve = ("serve", "--data", tmp_path / "data", "--validate-config")
    assert cli(*serve, "--model", tiny_ckpt).rc == 0
    result = cli(*serve, "--model", text)
    assert result.rc == 1 and len(result.err_lines) == 1
    assert result.err.startswith(f"edgecodec: error: configuration: model: {text} is not an edgecodec checkpoint")
    assert cli(*serve, "--model", text, "--decode-workers", "0").rc == 0  # a server that never decodes
