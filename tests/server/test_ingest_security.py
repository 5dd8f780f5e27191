"""Uploads: idempotency, authentication, hostile ids and bad bodies; every refusal stores nothing."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from app_client import app_client, run, stored_files
from edgecodec.checkpoint import from_checkpoint
from edgecodec import codec
from edgecodec.server.tokens import TokenStore

pytestmark = pytest.mark.usefixtures("one_thread")
URL = "/api/v1/devices/{}/frames/{}"


@pytest.fixture(scope="module")
def frames(tiny_ckpt):
    """Two different valid .ecb frames (64x48)."""
    model = from_checkpoint(tiny_ckpt)
    rng = np.random.default_rng(0)
    return [codec.Codec(model).encode(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), 50) for _ in range(2)]


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_upload_is_idempotent_and_conflicts_are_refused(data, frames):
    token = TokenStore(data).add("cam1")
    viewer = TokenStore(data).add("v", "viewer")

    async def body():
        async with app_client(data) as (client, ctx):
            first = await client.post(URL.format("cam1", 7), data=frames[0], headers=bearer(token))
            again = await client.post(URL.format("cam1", 7), data=frames[0], headers=bearer(token))
            other = await client.post(URL.format("cam1", 7), data=frames[1], headers=bearer(token))
            ecb = await client.get(URL.format("cam1", 7) + ".ecb", headers=bearer(viewer))
            return first.status, again.status, other.status, await ecb.read()

    assert run(body()) == (201, 200, 409, frames[0])
    assert len(stored_files(data)) == 1


def test_parallel_uploads_of_one_frame_store_it_once_and_all_succeed(data, frames):
    token = TokenStore(data).add("cam1")

    async def body():
        async with app_client(data) as (client, ctx):
            async def post(seq):
                resp = await client.post(URL.format("cam1", seq), data=frames[0], headers=bearer(token))
                return resp.status
            return [await asyncio.gather(*(post(seq) for _ in range(8))) for seq in range(5)]

    for statuses in run(body()):
        assert sorted(statuses) == [200] * 7 + [201], statuses
    assert len(stored_files(data)) == 5
    assert not [p for p in (data / "frames").rglob(".tmp-*")]


def test_unknown_paths_methods_and_queries_get_json_errors(data, frames):
    viewer = TokenStore(data).add("v", "viewer")

    async def body():
        async with app_client(data) as (client, ctx):
            out = []
            for method, path in (("GET", "/api/v1/nothing"), ("PUT", URL.format("cam1", 1)),
                                 ("GET", "/api/v1/devices/cam1/frames?limit=abc"),
                                 ("GET", "/api/v1/devices/cam1/frames?limit=0")):
                resp = await client.request(method, path, headers=bearer(viewer))
                out.append((resp.status, resp.headers.get("Allow"), await resp.json()))
            return out

    (missing, _, a), (not_allowed, allow, b), (bad_limit, _, c), (zero, _, d) = run(body())
    assert (missing, a["reason"]) == (404, "not_found")
    assert (not_allowed, b["reason"]) == (405, "method_not_allowed") and "POST" in allow
    assert bad_limit == zero == 400 and c["error"] == d["error"] == "limit must be an integer 1..10000"


def test_a_stalled_body_is_refused_with_408_and_stores_nothing(data, frames, monkeypatch):
    import edgecodec.server.ingest

    monkeypatch.setattr(edgecodec.server.ingest, "BODY_TIMEOUT_S", 0.5)
    token = TokenStore(data).add("cam1")

    async def body():
        async with app_client(data) as (client, ctx):
            reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
            writer.write(f"POST {URL.format('cam1', 1)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                         f"Content-Length: {len(frames[0])}\r\n\r\n".encode() + frames[0][:20])
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 10)
            writer.close()
            return status_line

    assert run(body()).startswith(b"HTTP/1.1 408")
    assert stored_files(data) == []


def refused(data, frames, path: str, token: str | None, body: bytes | None = None, headers: dict | None = None,
            **settings) -> tuple[int, dict]:
    async def go():
        async with app_client(data, **settings) as (client, ctx):
            h = {**(bearer(token) if token else {}), **(headers or {})}
            resp = await client.post(path, data=frames[0] if body is None else body, headers=h)
            listing = await ctx.index.frames("cam1", 0, 1 << 62, 10)
            return resp.status, await resp.json(), listing

    status, doc, listing = run(go())
    assert listing == [] and stored_files(data) == [], "a refused upload left something behind"
    return status, doc


def test_missing_unknown_and_revoked_tokens_get_401(data, frames):
    store = TokenStore(data)
    revoked = store.add("cam1")
    store.revoke("cam1")
    for token in (None, "ecb_not-a-token", revoked):
        status, doc = refused(data, frames, URL.format("cam1", 1), token)
        assert status == 401, doc
    status, _ = refused(data, frames, URL.format("cam1", 1), None, headers={"Authorization": "Basic eDp5"})
    assert status == 401


def test_a_token_file_damaged_while_serving_gets_503(data, frames):
    token = TokenStore(data).add("cam1")

    async def go():
        async with app_client(data) as (client, ctx):
            (data / "tokens.json").write_text('{"tokens": [{"name": "cam1"}]}')
            resp = await client.post(URL.format("cam1", 1), data=frames[0], headers=bearer(token))
            return resp.status, await resp.json(), await ctx.index.frames("cam1", 0, 1 << 62, 10)

    status, doc, listing = run(go())
    assert status == 503 and "token file" in doc["error"], doc
    assert listing == [] and stored_files(data) == []


def test_a_device_writes_only_as_itself_and_viewers_cannot_write(data, frames):
    store = TokenStore(data)
    cam2, viewer = store.add("cam2"), store.add("cam1", "viewer")
    assert refused(data, frames, URL.format("cam1", 1), cam2)[0] == 403
    assert refused(data, frames, URL.format("cam1", 1), viewer)[0] == 403


@pytest.mark.parametrize("device_id", ["..%2Fsecret", ".hidden", "a" * 65, "a%20b", "%00x", "cam1%2F..", "c%C3%A4m"])
def test_hostile_device_ids_get_400(data, frames, device_id):
    token = TokenStore(data).add("cam1")
    status, doc = refused(data, frames, URL.format(device_id, 1), token)
    assert status == 400 and doc["reason"] == "bad_device_id"


@pytest.mark.parametrize("seq", ["-1", "abc", "1e3", "99999999999999999999", "٣"])
def test_bad_sequence_numbers_get_400(data, frames, seq):
    token = TokenStore(data).add("cam1")
    assert refused(data, frames, URL.format("cam1", seq), token)[0] == 400


def test_bad_capture_time_gets_400(data, frames):
    token = TokenStore(data).add("cam1")
    status, _ = refused(data, frames, URL.format("cam1", 1), token, headers={"X-Edgecodec-Capture-Us": "yesterday"})
    assert status == 400


def test_oversized_bodies_get_413(data, frames):
    token = TokenStore(data).add("cam1")
    big = frames[0] + bytes(4096)
    status, doc = refused(data, frames, URL.format("cam1", 1), token, body=big, max_body_bytes=2048)
    assert status == 413, doc

    async def chunked():  # no Content-Length: the limit applies while reading
        yield big

    status, doc = refused(data, frames, URL.format("cam1", 1), token, body=chunked(), max_body_bytes=2048)
    assert status == 413, doc


def corruptions(frame: bytes) -> list[bytes]:
    flipped = bytearray(frame)
    flipped[-1] ^= 1
    return [b"", b"hello", frame[:-1], frame + b"\0", bytes(flipped), b"ECB\x1a" + bytes(60)]


def test_malformed_bitstreams_get_422(data, frames):
    token = TokenStore(data).add("cam1")
    for body in corruptions(frames[0]):
        status, doc = refused(data, frames, URL.format("cam1", 1), token, body=body)
        assert status == 422 and doc["reason"] == "bad_bitstream", (body[:8], doc)


def test_frames_over_the_pixel_limit_get_422(data, frames):
    token = TokenStore(data).add("cam1")
    status, doc = refused(data, frames, URL.format("cam1", 1), token, max_pixels=1000)
    assert status == 422 and "limit" in doc["error"]
