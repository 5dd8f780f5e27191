"""Reads: viewer tokens only, listings, time filters, and a frame that fails to decode."""
from __future__ import annotations


import numpy as np
import pytest

from app_client import app_client, run
from edgecodec.checkpoint import from_checkpoint
from edgecodec import codec
from edgecodec.common.protocol import MAX_CAPTURE_US
from edgecodec.server.query import parse_time
from edgecodec.server.tokens import TokenStore

pytestmark = pytest.mark.usefixtures("one_thread")


def frame(ckpt: str, seed: int) -> bytes:
    img = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return codec.Codec(from_checkpoint(ckpt)).encode(img, 50)


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def upload(client, token: str, seq: int, body: bytes, capture_us: int):
    return client.post(f"/api/v1/devices/cam1/frames/{seq}", data=body,
                       headers={**auth(token), "X-Edgecodec-Capture-Us": str(capture_us)})


def camera_and_viewer(data) -> tuple[str, str]:
    """(token of device cam1, token of viewer alice) registered in ``data``."""
    store = TokenStore(data)
    return store.add("cam1"), store.add("alice", "viewer")


async def upload_all(client, token: str, body: bytes, capture_us: list[int]) -> None:
    """Upload ``body`` as frames 0, 1, ... of cam1 with these capture times; each must be stored (201)."""
    for seq, capture in enumerate(capture_us):
        assert (await upload(client, token, seq, body, capture)).status == 201


def test_listings_filters_and_roles(tmp_path, tiny_ckpt):
    device, viewer = camera_and_viewer(tmp_path)
    body = frame(tiny_ckpt, 0)

    async def go():
        async with app_client(tmp_path) as (client, ctx):
            await upload_all(client, device, body, [1_700_000_000_000_000 + seq * 100_000 for seq in range(5)])
            assert (await client.get("/api/v1/devices", headers=auth(device))).status == 403
            assert (await client.get("/api/v1/devices")).status == 401
            devices = await (await client.get("/api/v1/devices", headers=auth(viewer))).json()
            window = await client.get("/api/v1/devices/cam1/frames?since=1700000000.1&until=2023-11-14T22:13:20.4Z",
                                      headers=auth(viewer))
            missing = await client.get("/api/v1/devices/cam1/frames/99.ecb", headers=auth(viewer))
            bad = await client.get("/api/v1/devices/cam1/frames?since=noon", headers=auth(viewer))
            png = await client.get("/api/v1/devices/cam1/frames/1.png", headers=auth(viewer))
            return devices, await window.json(), missing.status, bad.status, png.status

    devices, window, missing, bad, png = run(go())
    cam = devices["devices"][0]
    assert cam["device_id"] == "cam1" and cam["frames"] == 5 and cam["latest"]["seq"] == 4
    assert cam["fps"] == pytest.approx(10.0) and cam["bitrate_bps"] == pytest.approx(8 * len(body) * 10, rel=1e-3)
    assert [f["seq"] for f in window["frames"]] == [1, 2, 3]
    assert (missing, bad, png) == (404, 400, 503)  # png: this server has no decode workers


def test_parse_time_accepts_unix_seconds_and_iso_with_zone():
    assert parse_time("1700000000.5") == 1_700_000_000_500_000
    assert parse_time("2023-11-14T22:13:20Z") == 1_700_000_000_000_000
    for bad in ("2023-11-14T22:13:20", "-5", "nan", "tomorrow"):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_a_frame_of_another_model_is_stored_its_decode_error_recorded_and_serving_goes_on(
        tmp_path, tiny_ckpt, other_ckpt):
    store = TokenStore(tmp_path)
    device, viewer = store.add("cam1"), store.add("alice", "viewer")

    async def go():
        async with app_client(tmp_path, decode_workers=1, model=tiny_ckpt, decode_on_arrival=False) as (client, ctx):
            assert (await upload(client, device, 0, frame(other_ckpt, 1), 1)).status == 201
            assert (await upload(client, device, 1, frame(tiny_ckpt, 2), 2)).status == 201
            failed = await client.get("/api/v1/devices/cam1/frames/0.png", headers=auth(viewer))
            good = await client.get("/api/v1/devices/cam1/frames/1.png", headers=auth(viewer))
            listing = await client.get("/api/v1/devices/cam1/frames", headers=auth(viewer))
            return failed.status, await failed.json(), good.status, await listing.json()

    failed_status, failed, good_status, listing = run(go())
    assert failed_status == 422 and "model" in failed["error"]
    assert good_status == 200
    errors = {f["seq"]: f["decode_error"] for f in listing["frames"]}
    assert "model" in errors[0] and errors[1] is None


def test_every_capture_time_an_upload_may_carry_is_listed_and_huge_numbers_get_400(tmp_path, tiny_ckpt):
    store = TokenStore(tmp_path)
    device, viewer = store.add("cam1"), store.add("alice", "viewer")
    body = frame(tiny_ckpt, 0)
    frames = "/api/v1/devices/cam1/frames"

    async def go():
        async with app_client(tmp_path) as (client, ctx):
            assert (await upload(client, device, 0, body, MAX_CAPTURE_US)).status == 201
            assert (await upload(client, device, 1, body, MAX_CAPTURE_US + 1)).status == 400
            listed = []
            for query in ("", "?since=4611686018427.387904", "?since=2023-11-14T22:13:20Z&limit=00001"):
                listed.append(await (await client.get(frames + query, headers=auth(viewer))).json())
            refused = []
            for query in ("limit=" + "9" * 5000, "since=" + "1" * 5000, "until=4611686018427.387905", "until=1e99999"):
                resp = await client.get(f"{frames}?{query}", headers=auth(viewer))
                refused.append((resp.status, (await resp.json())["reason"]))
            return listed, refused

    listed, refused = run(go())
    assert [[f["capture_us"] for f in doc["frames"]] for doc in listed] == [[MAX_CAPTURE_US]] * 3
    assert refused == [(400, "bad_request")] * 4
