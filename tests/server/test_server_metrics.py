"""/metrics: the process, the build, and each device's newest arrival (kept across a restart); no token or
viewer name."""
from __future__ import annotations

import re
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from app_client import app_client, run
from edgecodec.common.process_metrics import BuildInfo, package_version
from edgecodec.server.tokens import TokenStore
from test_read_api import auth, frame, upload

pytestmark = pytest.mark.usefixtures("one_thread")
LAST = 'edgecodec_server_device_last_frame_timestamp_seconds{device="cam1"}'


async def scrape(client) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200
    return await resp.text()


def last_frame(text: str) -> float:
    return float(re.search(re.escape(LAST) + r" (\S+)", text).group(1))


def test_process_build_and_last_frame_metrics_survive_a_restart(tmp_path, tiny_ckpt):
    store = TokenStore(tmp_path)
    device, viewer = store.add("cam1"), store.add("alice", "viewer")
    before = time.time()

    async def go():
        async with app_client(tmp_path) as (client, _):
            empty = await scrape(client)
            assert (await upload(client, device, 0, frame(tiny_ckpt, 0), 1)).status == 201
            listed = await (await client.get("/api/v1/devices/cam1/frames", headers=auth(viewer))).json()
            stored = await scrape(client)
        async with app_client(tmp_path, decode_workers=1, model=tiny_ckpt, decode_on_arrival=False) as (client, _):
            restarted = await scrape(client)
        return empty, listed["frames"][0]["received_us"], stored, restarted

    empty, received_us, stored, restarted = run(go())
    assert LAST not in empty
    assert last_frame(stored) == last_frame(restarted) == received_us / 1e6 >= before
    for text in (empty, stored, restarted):
        assert "process_resident_memory_bytes" in text and "process_open_fds" in text and "python_info" in text
        assert "alice" not in text and device[4:20] not in text and viewer[4:20] not in text
    assert f'edgecodec_build_info{{model_id="",version="{package_version()}"}} 1.0' in stored  # no decoder
    decoder = re.search(r'edgecodec_build_info\{model_id="([0-9a-f]{32})",version="(.*?)"\} 1.0', restarted)
    assert decoder and decoder.group(2) == package_version(), restarted


def test_build_info_names_the_loaded_model_in_one_series():
    registry = CollectorRegistry()
    info = BuildInfo(registry)
    info.model("ab" * 16)
    text = generate_latest(registry).decode()
    assert text.count("edgecodec_build_info{") == 1 and f'model_id="{"ab" * 16}"' in text
