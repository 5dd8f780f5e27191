"""Delta frames at the server: stored in any order, decoded from their chain of references back to their
key frame (random access), a missing link reported as such until it arrives, chains deeper than
MAX_REFERENCE_DEPTH and forged delta frames refused or marked with nothing else affected."""
from __future__ import annotations

import dataclasses
import hashlib
import re
import struct
import zlib
from collections import OrderedDict

import cv2
import numpy as np
import pytest

from app_client import app_client, run, stored_files
from conftest import CHAINED_REFS, KEY_SEQ
from edgecodec.codec import bitstream
from edgecodec.codec.facade import MAX_REFERENCE_DEPTH
from edgecodec.codec.stream import StreamDecoder, StreamEncoder, StreamPolicy
from edgecodec.imageio import read_image
from edgecodec.runtime import load_codec
from edgecodec.server import decode_job
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


def chain_of(i: int) -> list[int]:
    """The indexes of the frames chained frame ``i`` decodes from, its key frame first."""
    chain, ref = [], CHAINED_REFS[i]
    while ref is not None:
        chain.insert(0, ref - KEY_SEQ)
        ref = CHAINED_REFS[ref - KEY_SEQ]
    return chain


@pytest.fixture(scope="module")
def still(tiny_ckpt, request) -> tuple[list[bytes], list[np.ndarray]]:
    """A still scene in one chain as deep as the codec decodes: key frame 0 and delta frames 1..16, each
    referencing the one before and taking every position from it (so each has its key frame's latent and
    hash), and their local decodes."""
    codec = load_codec(tiny_ckpt, "torch")
    photo = read_image(str(request.config.rootpath / "tests" / "data" / "kodim15.png"))[:64, :96]
    encoder = StreamEncoder(codec, 50, StreamPolicy(chain=MAX_REFERENCE_DEPTH))
    frames = [encoder.encode(photo, seq) for seq in range(MAX_REFERENCE_DEPTH + 1)]
    assert [f.ref_seq for f in frames] == [None, *range(MAX_REFERENCE_DEPTH)]
    assert all(f.skipped == 1.0 for f in frames[1:])
    decoder = StreamDecoder(codec)
    return [f.data for f in frames], [decoder.decode(f.data) for f in frames]


def test_chained_delta_frames_wait_for_every_link_then_decode_as_locally_in_any_order(tmp_path, tiny_ckpt, chained):
    frames, local = chained  # 10 <- 11 <- 12 <- 13, 10 <- 14 <- 15 <- 16, 10 <- 17
    tokens = TokenStore(tmp_path)
    cam1, cam2, viewer = tokens.add("cam1"), tokens.add("cam2"), tokens.add("alice", "viewer")

    async def go():
        async with app_client(tmp_path, model=tiny_ckpt, decode_workers=1) as (client, ctx):
            def post(i, body=None, device="cam1", token=cam1):
                return client.post(f"/api/v1/devices/{device}/frames/{KEY_SEQ + i}", data=body or frames[i],
                                   headers=auth(token))

            async def pngs(indexes, device="cam1"):
                out = {}
                for i in indexes:
                    response = await client.get(f"/api/v1/devices/{device}/frames/{KEY_SEQ + i}.png",
                                                headers=auth(viewer))
                    out[i] = (response.status, await (response.read() if response.status == 200 else response.json()))
                return out

            async def listing(device="cam1"):
                doc = await (await client.get(f"/api/v1/devices/{device}/frames", headers=auth(viewer))).json()
                return doc["frames"]

            for i in range(8):  # cam2: in order, played in order
                assert (await post(i, device="cam2", token=cam2)).status == 201
            in_order = await pngs(range(8), "cam2")
            assert (await post(2)).status == 201  # cam1: after an outage, any order
            early, waiting = await listing(), await pngs([2])
            for i in (7, 3, 0, 6, 4):  # all but 11 and 15, two middle links
                assert (await post(i)).status == 201
            assert (await post(2)).status == 200  # idempotent for delta frames too
            assert (await post(2, forged(frames[2], ref_hash=b"y" * 8))).status == 409  # other bytes
            gaps, broken = await listing(), await pngs([2, 3, 6, 0, 4, 7])
            assert (await post(1)).status == 201
            one_gap = await pngs([3, 2, 6])
            assert (await post(5)).status == 201
            whole = await pngs([6, 5, 1])  # random access
            metrics = await (await client.get("/metrics")).text()
            return in_order, early, waiting, gaps, broken, one_gap, whole, await listing(), metrics

    in_order, early, waiting, gaps, broken, one_gap, whole, listing, metrics = run(go())
    for i, (status, body) in in_order.items():
        assert status == 200
        np.testing.assert_array_equal(png_of(body), local[i])
    assert [(f["seq"], f["kind"], f["ref_seq"], f["reference_missing"], f["decode_error"]) for f in early] \
        == [(KEY_SEQ + 2, "delta", KEY_SEQ + 1, True, None)]
    missing = {KEY_SEQ + 2: 11, KEY_SEQ + 3: 11, KEY_SEQ + 6: 15}  # frame: the link it lacks
    assert {f["seq"] for f in gaps if f["reference_missing"]} == set(missing)
    for i, (status, doc) in {**waiting, **broken}.items():
        if KEY_SEQ + i in missing:
            assert status == 424 and doc["reason"] == "reference_missing", doc
            assert f"frame {missing[KEY_SEQ + i]}, which it decodes from, has not arrived" in doc["error"]
        else:
            assert status == 200  # 10, 14 and 17: their chains are whole
    assert one_gap[6][0] == 424 and {i: one_gap[i][0] for i in (2, 3)} == {2: 200, 3: 200}
    for i, (status, body) in {**broken, **one_gap, **whole}.items():
        if status == 200:
            np.testing.assert_array_equal(png_of(body), local[i])
    assert whole[6][0] == whole[5][0] == whole[1][0] == 200
    assert not any(f["reference_missing"] or f["decode_error"] for f in listing) and len(listing) == 8
    counted = re.search(r"^edgecodec_server_reference_missing_total (\S+)$", metrics, re.M)
    assert float(counted[1]) >= 5  # the requests (arrivals decoded before their links came add to it)


def test_forged_delta_frames_are_refused_or_marked_and_nothing_else_is_affected(tmp_path, tiny_ckpt, stream):
    frames, local = stream  # 10 <- 11 <- 12 <- 13
    tokens = TokenStore(tmp_path)
    cam1, cam2, viewer = tokens.add("cam1"), tokens.add("cam2"), tokens.add("alice", "viewer")
    flags, z, y = bitstream.unpack(frames[1]).streams
    broken_key = bitstream.pack(bitstream.Header(96, 64, 50.0, bytes(16), bitstream.KEY, 30), (b"z", b"y"))
    refused = {
        "as another seq": (20, frames[1]),  # coded as frame 11: its reference is relative to that
        "references itself": (21, raw_delta(21, 21, (flags, z, y))),
        "references a later frame": (22, raw_delta(22, 25, (flags, z, y))),
    }
    unrequested = {51: forged(frames[1], seq=51, ref_hash=b"x" * 8)}  # not the latent of key frame 10
    marked = {  # requested in this order
        40: (forged(frames[1], seq=40, ref_hash=b"x" * 8), "not the given frame"),  # not its reference's latent
        41: (forged(frames[2], seq=41, ref_seq=40), "frame 40, which it decodes from, does not decode"),
        42: (forged(frames[1], seq=42, ref_seq=30), "frame 30, which it decodes from, does not decode"),
        52: (forged(frames[2], seq=52, ref_seq=51), "frame 51 references frame 10"),  # a link fails while decoding
    }
    renumbered = forged(frames[2], seq=44, ref_seq=KEY_SEQ + 1)  # a delta frame's reference may be a delta frame

    async def go():
        async with app_client(tmp_path, model=tiny_ckpt, decode_workers=1, decode_on_arrival=False) as (client, ctx):
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
            for seq, body in [*unrequested.items(), *((s, b) for s, (b, _) in marked.items()), (44, renumbered)]:
                assert (await post("cam1", cam1, seq, body)).status == 201
            # another camera's delta frame naming cam1's frames: they are looked up under cam2 only
            assert (await post("cam2", cam2, KEY_SEQ + 1, frames[1])).status == 201
            results = {}
            for device, seq in [("cam1", s) for s in (30, *marked, 44)] + [("cam2", KEY_SEQ + 1)]:
                response = await client.get(f"/api/v1/devices/{device}/frames/{seq}.png", headers=auth(viewer))
                results[device, seq] = (response.status, await (response.read() if response.status == 200
                                                                 else response.json()))
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
    status, body = results["cam1", 44]
    assert status == 200
    np.testing.assert_array_equal(png_of(body), local[2])
    status, doc = results["cam2", KEY_SEQ + 1]
    assert status == 424 and doc["reason"] == "reference_missing" and f"frame {KEY_SEQ}," in doc["error"]
    errors = {f["seq"]: f["decode_error"] for f in listing["frames"]}
    assert all(errors[seq] for seq in marked) and errors[51] is None  # the failing link was never requested
    assert all(errors[seq] is None for seq in (44, *range(KEY_SEQ, KEY_SEQ + 4)))
    for i, (status, body) in enumerate(good):  # the camera's real frames are untouched
        assert status == 200
        np.testing.assert_array_equal(png_of(body), local[i])


def test_a_chain_deeper_than_the_codec_decodes_is_recorded_as_a_decode_failure(tmp_path, tiny_ckpt, still):
    frames, local = still  # 0 <- 1 <- ... <- 16, every frame with the same latent
    deepest = MAX_REFERENCE_DEPTH
    too_deep = forged(frames[deepest], seq=deepest + 1, ref_seq=deepest)  # its hash matches: only its depth is wrong
    tokens = TokenStore(tmp_path)
    device, viewer = tokens.add("cam1"), tokens.add("alice", "viewer")

    async def go():
        async with app_client(tmp_path, model=tiny_ckpt, decode_workers=1) as (client, ctx):
            for seq, body in reversed([*enumerate(frames), (deepest + 1, too_deep)]):
                response = await client.post(f"/api/v1/devices/cam1/frames/{seq}", data=body, headers=auth(device))
                assert response.status == 201
            out = []
            for seq in (deepest + 1, deepest):
                response = await client.get(f"/api/v1/devices/cam1/frames/{seq}.png", headers=auth(viewer))
                out.append((response.status, await (response.read() if response.status == 200 else response.json())))
            listing = await (await client.get("/api/v1/devices/cam1/frames", headers=auth(viewer))).json()
            return out, listing["frames"]

    ((refused, doc), (status, png)), listing = run(go())
    assert refused == 422 and doc["reason"] == "decode_failed"
    assert f"more than {MAX_REFERENCE_DEPTH} delta frames from its key frame" in doc["error"]
    assert status == 200
    np.testing.assert_array_equal(png_of(png), local[deepest])
    assert [(f["seq"], f["reference_missing"], f["decode_error"] is not None) for f in listing] == [
        (seq, False, seq == deepest + 1) for seq in range(deepest + 2)]


def test_a_decode_worker_decodes_a_stream_once_in_order_and_at_most_a_chain_at_random(tmp_path, tiny_ckpt,
                                                                                       chained, monkeypatch):
    frames, local = chained
    files = []
    for i, data in enumerate(frames):
        (tmp_path / f"{i}.ecb").write_bytes(data)
        files.append((str(tmp_path / f"{i}.ecb"), hashlib.sha256(data).hexdigest()))
    monkeypatch.setattr(decode_job, "_backend", None)  # restored afterwards, as are the cache and the counters
    decode_job.init_worker(tiny_ckpt, "torch")
    monkeypatch.setattr(decode_job, "_references", OrderedDict())
    reads, decodes = [], []
    read, reference = decode_job._verified, decode_job._backend.reference
    monkeypatch.setattr(decode_job, "_verified", lambda path, sha256: reads.append(files.index((path, sha256)))
                        or read(path, sha256))
    monkeypatch.setattr(decode_job._backend, "reference", lambda data, *args: decodes.append(frames.index(data))
                        or reference(data, *args))

    def decode(order: list[int]) -> tuple[list[int], list[int]]:
        """Decode the frames in this order and check each against its local decode: (frames read, entropy decoded)."""
        reads.clear()
        decodes.clear()
        for i in order:
            (ecb, sha256), png = files[i], tmp_path / f"{i}.png"
            decode_job.decode_to_png(ecb, str(png), sha256, [files[j] for j in chain_of(i)])
            np.testing.assert_array_equal(png_of(png.read_bytes()), local[i])
            png.unlink()
        return list(reads), list(decodes)

    assert decode(list(range(8))) == (list(range(8)), list(range(8)))  # in order: each frame once
    decode_job._references.clear()
    assert decode([6]) == ([6, 0, 4, 5], [0, 4, 5, 6])  # at random: the frame and its chain
    assert decode([3]) == ([3, 1, 2], [1, 2, 3])  # 10 is cached: neither read nor decoded again
    assert decode([6, 3]) == ([6, 3], [])  # a cached frame is read (checked) but not decoded again
    monkeypatch.setattr(decode_job, "REFERENCE_CACHE_PIXELS", 2 * 96 * 64)
    decode_job._references.clear()
    decode([7, 6, 5, 4, 3, 2, 1, 0])
    assert len(decode_job._references) == 2  # the bound holds, and evicting links mid-chain decodes the same
