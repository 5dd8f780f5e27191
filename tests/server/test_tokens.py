"""tokens.json: a failed command creates nothing, a malformed file is refused in one line (CLI and server)."""
from __future__ import annotations

import json

import pytest

from edgecodec.server.tokens import TOKEN_FILE, TokenStore

GOOD = {"id": "0a1b2c3d", "name": "cam1", "role": "device", "sha256": "0" * 64, "created": 1, "revoked": None}
MALFORMED = [
    ("[]", "no 'tokens' list"),
    ('{"tokens": 5}', "no 'tokens' list"),
    ('{"tokens": null}', "no 'tokens' list"),
    ('{"tokens": [5]}', "entry 0 is not an object"),
    ('{"tokens": [{}]}', "entry 0 lacks 'id'"),
    (json.dumps({"tokens": [GOOD, {k: v for k, v in GOOD.items() if k != "name"}]}), "entry 1 lacks 'name'"),
    (json.dumps({"tokens": [dict(GOOD, sha256=5)]}), "entry 0 has an invalid 'sha256'"),
    (json.dumps({"tokens": [dict(GOOD, revoked="yes")]}), "entry 0 has an invalid 'revoked'"),
    (json.dumps({"tokens": [dict(GOOD, role="admin")]}), "entry 0 has an unknown role 'admin'"),
    ("{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
]


@pytest.mark.parametrize("text,needle", MALFORMED)
def test_a_malformed_tokens_file_is_refused_and_left_alone(cli, tmp_path, text, needle):
    path = tmp_path / TOKEN_FILE
    path.write_text(text)
    for argv in (["list"], ["add", "cam2"], ["revoke", "cam1"]):
        result = cli("token", *argv, "--data", tmp_path)
        assert result.rc == 1 and result.out == "", result
        assert result.err_lines == [f"edgecodec: error: {path}: not a token file ({needle})"], result.err
    assert path.read_text() == text and sorted(p.name for p in tmp_path.iterdir()) == [TOKEN_FILE]


def test_the_server_refuses_a_malformed_tokens_file_at_start_up(cli, tmp_path):
    (tmp_path / TOKEN_FILE).write_text('{"tokens": [{}]}')
    for extra in (["--validate-config"], ["--listen", "127.0.0.1:0", "--decode-workers", "0"]):
        result = cli("serve", "--data", tmp_path, *extra)
        assert result.rc == 1 and result.err_lines == [
            f"edgecodec: error: configuration: data: {tmp_path / TOKEN_FILE}: not a token file (entry 0 lacks 'id')"]


def test_failed_revoke_and_list_create_nothing(cli, tmp_path):
    absent = tmp_path / "new"
    revoke = cli("token", "revoke", "nobody", "--data", absent)
    assert revoke.rc == 1 and revoke.err_lines == [f"edgecodec: error: no data directory {absent}"]
    listing = cli("token", "list", "--data", absent)
    assert listing.rc == 1 and listing.out == "" and listing.err_lines == revoke.err_lines
    assert not absent.exists()
    for action in (["list"], ["revoke", "nobody"]):  # an existing directory without a tokens file
        result = cli("token", *action, "--data", tmp_path)
        assert result.rc == 1 and result.err_lines == [
            f"edgecodec: error: no tokens file {tmp_path / TOKEN_FILE} (no token was added yet)"]
    assert list(tmp_path.iterdir()) == []


def test_a_revoke_that_matches_nothing_leaves_the_file_as_it_was(cli, tmp_path):
    TokenStore(tmp_path).add("cam1")
    before = (tmp_path / TOKEN_FILE).stat()
    assert cli("token", "revoke", "nobody", "--data", tmp_path).rc == 1
    after = (tmp_path / TOKEN_FILE).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize("name", ["-rf", "--role", "-", ".hidden", "a b", "../etc", "cam\n1", "x" * 65, ""])
def test_token_add_refuses_option_like_and_invalid_names(cli, tmp_path, name):
    result = cli("token", "add", "--data", tmp_path, "--", name)
    assert result.rc == 1 and result.out == "" and len(result.err_lines) == 1, result
    assert "invalid name" in result.err and "not starting with '.' or '-'" in result.err
    assert not (tmp_path / TOKEN_FILE).exists()
    assert cli("token", "add", "--data", tmp_path, "--", "cam-1_a.b").rc == 0
