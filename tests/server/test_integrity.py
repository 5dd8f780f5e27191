"""Stored files are checked when served: a damaged or missing bitstream is a JSON 503, never a 200 with
a year-long cache header; a damaged cached PNG is removed and decoded again; errors are not cached."""
from __future__ import annotations

import pytest

from app_client import app_client, run
from edgecodec.server.integrity import png_intact
from harness import tokens
from nats_harness import frame

pytestmark = pytest.mark.usefixtures("one_thread")
URL = "/api/v1/devices/cam1/frames/0"


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1
    path.write_bytes(bytes(data))


async def answer(resp) -> tuple:
    doc = await resp.json() if resp.content_type == "application/json" else None
    return resp.status, resp.headers.get("Cache-Control"), doc and doc["reason"]


def test_a_damaged_or_missing_bitstream_is_a_json_503_that_is_not_cached(tmp_path, tiny_ckpt):
    device, viewer = tokens(tmp_path)
    body = frame(tiny_ckpt, 0)

    async def go():
        async with app_client(tmp_path) as (client, ctx):
            assert (await client.post(URL, data=body, headers=auth(device))).status == 201
            ecb = ctx.store.ecb_file((await ctx.index.get("cam1", 0)).path)
            out = []
            for damage in ("flipped", "missing", None):
                if damage == "flipped":
                    flip(ecb, len(body) // 2)
                elif damage == "missing":
                    ecb.unlink()
                else:
                    ecb.write_bytes(body)
                resp = await client.get(URL + ".ecb", headers=auth(viewer))
                out.append((*(await answer(resp)), await resp.read() if resp.status == 200 else None))
            unknown = await client.get("/api/v1/devices/cam1/frames/9.ecb", headers=auth(viewer))
            return out, await answer(unknown)

    (flipped, missing, restored), unknown = run(go())
    assert flipped == (503, "no-store", "frame_unavailable", None)
    assert missing == (503, "no-store", "frame_unavailable", None)
    assert restored == (200, "private, max-age=31536000, immutable", None, body)
    assert unknown == (404, "no-store", "not_found")


def test_a_damaged_cached_png_is_removed_and_decoded_again(tmp_path, tiny_ckpt):
    device, viewer = tokens(tmp_path)

    async def go():
        async with app_client(tmp_path, decode_workers=1, model=tiny_ckpt, decode_on_arrival=False) as (client, ctx):
            assert (await client.post(URL, data=frame(tiny_ckpt, 0), headers=auth(device))).status == 201
            first = await client.get(URL + ".png", headers=auth(viewer))
            good = await first.read()
            cached = ctx.store.png_file((await ctx.index.get("cam1", 0)).path)
            flip(cached, len(good) // 2)
            damaged = await answer(await client.get(URL + ".png", headers=auth(viewer)))
            removed = not cached.exists()
            again = await client.get(URL + ".png", headers=auth(viewer))
            return first.status, good, damaged, removed, again.status, await again.read()

    status, good, damaged, removed, again_status, again = run(go())
    assert status == 200 and png_intact(good)
    assert damaged == (503, "no-store", "decode_unavailable") and removed
    assert again_status == 200 and again == good


def test_png_intact_checks_every_chunk():
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", bytes(13)) + chunk(b"IDAT", b"xyz") + chunk(b"IEND", b"")
    assert png_intact(png)
    for bad in (png[:-1], png + b"\0", png[:20] + bytes([png[20] ^ 1]) + png[21:], b"GIF89a" + png[6:]):
        assert not png_intact(bad)
