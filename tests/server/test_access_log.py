"""The access log: a line per request with its fields, refusals included, never a token or a query string;
``access_log = false`` / ``--no-access-log`` turns it off."""
from __future__ import annotations

import logging
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app_client import run
from edgecodec.server.access_log import access_log_options
from edgecodec.server.app import build_app, open_context
from edgecodec.server.config import ServerConfig
from edgecodec.server.tokens import TokenStore

LINE = re.compile(r"^(\S+) (GET|POST) (\S+) (\d{3}) (\d+)B (\d+\.\d)ms (\S+)$")


def requests(data, enabled: bool) -> tuple[str, str]:
    """Serve a few requests (an upload refused for its body, a read, 401, 403, a token in a query string);
    returns (the device token, the viewer token)."""
    store = TokenStore(data)
    device, viewer = store.add("cam1"), store.add("alice", "viewer")

    async def go():
        ctx = await open_context(ServerConfig(data=data, decode_workers=0))
        server = TestServer(build_app(ctx))
        await server.start_server(**access_log_options(enabled))
        client = TestClient(server)
        try:
            bearer = {"Authorization": f"Bearer {viewer}"}
            assert (await client.get("/api/v1/devices", headers=bearer)).status == 200
            assert (await client.get(f"/api/v1/devices?token={viewer}")).status == 401
            assert (await client.get("/api/v1/devices", headers={"Authorization": f"Bearer {device}"})).status == 403
            upload = await client.post("/api/v1/devices/cam1/frames/0", data=b"not a frame",
                                       headers={"Authorization": f"Bearer {device}"})
            assert upload.status == 422
        finally:
            await client.close()
            await ctx.index.close()

    run(go())
    return device, viewer


def test_a_line_per_request_with_its_fields_and_never_a_token(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="edgecodec.access"):
        device, viewer = requests(tmp_path, enabled=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "edgecodec.access"]
    fields = [LINE.match(line).groups() for line in lines]
    assert [(f[1], f[2], f[3], f[6]) for f in fields] == [
        ("GET", "/api/v1/devices", "200", "alice"), ("GET", "/api/v1/devices", "401", "-"),
        ("GET", "/api/v1/devices", "403", "cam1"), ("POST", "/api/v1/devices/cam1/frames/0", "422", "cam1")]
    assert all(int(f[4]) > 0 and f[0] == "127.0.0.1" for f in fields), lines
    assert not any(token[4:20] in caplog.text for token in (device, viewer)), caplog.text


def test_access_log_false_logs_no_request(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="edgecodec.access"):
        requests(tmp_path, enabled=False)
    assert not [r for r in caplog.records if r.name == "edgecodec.access"]


@pytest.mark.parametrize("flags, expected", [((), True), (("--no-access-log",), False)])
def test_the_serve_flag_sets_access_log(cli, tmp_path, monkeypatch, flags, expected):
    seen = []

    async def serve(cfg):
        seen.append(cfg.access_log)

    monkeypatch.setattr("edgecodec.server.app.serve", serve)
    monkeypatch.setattr("edgecodec.cli.server.redacted_logging", lambda args: None)
    assert cli("serve", "--data", tmp_path, "--decode-workers", "0", *flags).rc == 0
    assert seen == [expected]
