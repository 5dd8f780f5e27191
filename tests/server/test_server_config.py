"""server.toml + flags, and the token command."""
from __future__ import annotations

import json

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
                         ('data = "/x"\nnats = "http://x"\n', "nats")]:
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
