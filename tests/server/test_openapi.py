"""docs/openapi.yaml names exactly the routes the server has."""
from __future__ import annotations

import re
from pathlib import Path

from edgecodec.server.app import build_app
from edgecodec.server.config import ServerConfig
from edgecodec.server.context import ServerContext

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def test_openapi_paths_match_the_routes(tmp_path):
    ctx = ServerContext(ServerConfig(data=tmp_path), None, None, None, None, None)
    routes = {r.resource.canonical for r in build_app(ctx).router.routes()} - {"/"}
    documented = set(re.findall(r"^  (/\S+):$", OPENAPI.read_text(), re.M))
    assert documented == routes
