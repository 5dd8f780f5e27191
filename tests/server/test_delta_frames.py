"""Delta frames at the server: stored in any order, decoded from their key frame (random access),
a missing key frame reported as such, forged delta frames refused or marked with nothing else affected."""
from __future__ import annotations

import dataclasses
import re
import struct
import zlib

import cv2
import numpy as np
import pytest

from app_client import app_client, run, stored_files
from conftest import KEY_SEQ
from edgecodec.codec import bitstream
from edgecodec.server.tokens import TokenStore

pytestmark = pytest.mark.usefixtures("one_thread")


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def forged(data: bytes, **fields) -> bytes:
    """The frame with other header fields (a valid CRC: what a client holding a token can send)."""
    frame = bitstream.unpack(data)
    return bitstream.pack(dataclasses.replace(frame.header, **fields), frame.streams)


def raw_delta(seq: int, ref_seq: int, streams: tuple[bytes, bytes, bytes]) -> bytes:
    """A delta frame header written by hand, beyond what ``pack`` allows (e.g. a reference to itself)."""
    head = bitstream.HEADER.pack(bitstream.MAGIC, bitstream.VERSION, bitstream.DELTA, 5000, bytes(16), 96, 64,
                                 seq, ref_seq, b"h" * 8, *map(len, streams))
    payload = b"".join(streams)
    return head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload


def png_of(body: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]


def test_a_delta_frame_stored_before_its_key_frame_waits_for_it_then_decodes(tmp_path, tiny_ckpt, stream):
    frames, local = stream
    tokens = TokenStore(tmp_path)
    device, viewer = tokens.add("cam1"), tokens.add("alice", "viewer")

    async def go():
        async with app_client(tmp_path, model=tiny_ckpt, decode_workers=1) as (client, ctx):
            post = lambda seq, body: client.post(f"/api/v1/devices/cam1/frames/{seq}", data=body,  # noqa: E731
                                                 headers=auth(device))
            get = lambda path: client.get(f"/api/v1/devices/cam1/{path}", headers=auth(viewer))  # noqa: E731
            assert (await post(KEY_SEQ + 2, frames[2])).status == 201  # after an outage: any order
            early = await (await get("frames")).json()
            waiting = await get(f"frames/{KEY_SEQ + 2}.png")
            waiting_doc = await waiting.json()
            for i in (3, 0, 1):
                assert (await post(KEY_SEQ + i, frames[i])).status == 201
            assert (await post(KEY_SEQ + 2, frames[2])).status == 200  # idempotent for delta frames too
            assert (await post(KEY_SEQ + 2, forged(frames[2], ref_hash=b"y" * 8))).status == 409  # other bytes
            listing = await (await get("frames")).json()
            pngs = []
            for seq in (KEY_SEQ + 3, KEY_SEQ + 2, KEY_SEQ, KEY_SEQ + 1):  # random access, the key frame not first
                response = await get(f"frames/{seq}.png")
                pngs.append((seq, response.status, await response.read()))
            metrics = await (await client.get("/metrics")).text()
            return early, waiting.status, waiting_doc, listing, pngs, metrics

    early, status, doc, listing, pngs, metrics = run(go())
    assert [(f["seq"], f["kind"], f["ref_seq"], f["reference_missing"], f["decode_error"]) for f in early["frames"]] \
        == [(KEY_SEQ + 2, "delta", KEY_SEQ, True, None)]
    assert status == 424 and doc["reason"] == "reference_missing" and f"key frame {KEY_SEQ}" in doc["error"]
    assert [(f["seq"], f["kind"], f["reference_missing"], f["decode_error"]) for f in listing["frames"]] == [
        (KEY_SEQ, "key", False, None)] + [(KEY_SEQ + i, "delta", False, None) for i in (1, 2, 3)]
    for seq, code, body in pngs:
        assert code == 200
        np.testing.assert_array_equal(png_of(body), local[seq - KEY_SEQ])
    missing = re.search(r"^edgecodec_server_reference_missing_total (\S+)$", metrics, re.M)
    assert float(missing[1]) >= 1  # the request, and the arrival's decode if it ran before the key frame came


def test_forged_delta_frames_are_refused_or_marked_and_nothing_else_is_affected(tmp_path, tiny_ckpt, stream):
    frames, local = stream
    tokens = TokenStore(tmp_path)
    cam1, cam2, viewer = tokens.add("cam1"), tokens.add("cam2"), tokens.add("alice", "viewer")
    flags, z, y = bitstream.unpack(frames[1]).streams
    broken_key = bitstream.pack(bitstream.Header(96, 64, 50.0, bytes(16), bitstream.KEY, 30), (b"z", b"y"))
    refused = {
        "as another seq": (20, frames[1]),  # coded as frame 11: its reference is relative to that
        "references itself": (21, raw_delta(21, 21, (flags, z, y))),
        "references a later frame": (22, raw_delta(22, 25, (flags, z, y))),
    }
    marked = {
        40: (forged(frames[1], seq=40, ref_hash=b"x" * 8), "reference"),  # not the latent it was coded against
        41: (forged(frames[2], seq=41, ref_seq=KEY_SEQ + 1), "is a delta frame"),  # a delta frame as reference
        42: (forged(frames[1], seq=42, ref_seq=30), "key frame 30 does not decode"),  # an undecodable key frame
    }

    async def go():
        async with app_client(tmp_path, model=tiny_ckpt, decode_workers=1) as (client, ctx):
            def post(device, token, seq, body):
                return client.post(f"/api/v1/devices/{device}/frames/{seq}", data=body, headers=auth(token))

            for i, body in enumerate(frames):
                assert (await post("cam1", cam1, KEY_SEQ + i, body)).status == 201
            before = len(stored_files(tmp_path))
            answers = {}
            for name, (seq, body) in refused.items():
                response = await post("cam1", cam1, seq, body)
                answers[name] = (response.status, (await response.json())["reason"])
            stored_after_refusals = len(stored_files(tmp_path))
            assert (await post("cam1", cam1, 30, broken_key)).status == 201
            for seq, (body, _) in marked.items():
                assert (await post("cam1", cam1, seq, body)).status == 201
            # another camera's delta frame naming cam1's key frame: it is looked up under cam2 only
            assert (await post("cam2", cam2, KEY_SEQ + 1, frames[1])).status == 201
            results = {}
            for device, seq in [("cam1", s) for s in (30, *marked)] + [("cam2", KEY_SEQ + 1)]:
                response = await client.get(f"/api/v1/devices/{device}/frames/{seq}.png", headers=auth(viewer))
                results[device, seq] = (response.status, await response.json())
            listing = await (await client.get("/api/v1/devices/cam1/frames", headers=auth(viewer))).json()
            good = []
            for i in range(4):
                response = await client.get(f"/api/v1/devices/cam1/frames/{KEY_SEQ + i}.png", headers=auth(viewer))
                good.append((response.status, await response.read()))
            return before, answers, stored_after_refusals, results, listing, good

    before, answers, after, results, listing, good = run(go())
    assert answers == {name: (422, reason) for name, reason in (
        ("as another seq", "seq_mismatch"), ("references itself", "bad_bitstream"),
        ("references a later frame", "bad_bitstream"))}
    assert after == before  # refusals store nothing
    assert results["cam1", 30][0] == 422
    for seq, (_, words) in marked.items():
        status, doc = results["cam1", seq]
        assert status == 422 and doc["reason"] == "decode_failed" and words in doc["error"], (seq, doc)
    status, doc = results["cam2", KEY_SEQ + 1]
    assert status == 424 and doc["reason"] == "reference_missing"
    errors = {f["seq"]: f["decode_error"] for f in listing["frames"]}
    assert all(errors[seq] for seq in marked) and all(errors[KEY_SEQ + i] is None for i in range(4))
    for i, (status, body) in enumerate(good):  # the camera's real frames are untouched
        assert status == 200
        np.testing.assert_array_equal(png_of(body), local[i])
