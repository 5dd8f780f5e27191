"""JPEG snapshots (frames/{seq}.jpg, latest.jpg): the server's decode scaled to ?h= rows, the PNG's errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from app_client import app_client, run
from conftest import KEY_SEQ
from edgecodec.checkpoint import from_checkpoint
from edgecodec.codec import Codec
from edgecodec.server.snapshots import SnapshotCache, jpeg_snapshot
from edgecodec.server.tokens import TokenStore

pytestmark = pytest.mark.usefixtures("one_thread")
CAPTURE_US = 1_700_000_000_000_000


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def image(body: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]


def expected(rgb: np.ndarray, h: int | None = None) -> bytes:
    """The snapshot of a local decode: what the server must send for that frame."""
    return jpeg_snapshot(cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))[1].tobytes(), h)


def serve(tmp_path, model: str, uploads: dict[str, list[tuple[int, bytes]]], reads: list[tuple[str, str]],
          **settings) -> list[tuple[int, dict, bytes]]:
    """Upload ``{device: [(seq, frame)]}`` (captured 0.2 s apart), then GET each (path, token name) in turn:
    [(status, headers, body)]."""
    tokens = TokenStore(tmp_path)
    names = {"viewer": tokens.add("alice", "viewer"), **{d: tokens.add(d) for d in uploads}}

    async def go():
        async with app_client(tmp_path, model=model, **{"decode_workers": 1, **settings}) as (client, _):
            for device, frames in uploads.items():
                for seq, body in frames:
                    capture = {"X-Edgecodec-Capture-Us": str(CAPTURE_US + seq * 200_000)}
                    r = await client.post(f"/api/v1/devices/{device}/frames/{seq}", data=body,
                                          headers={**auth(names[device]), **capture})
                    assert r.status == 201, await r.text()
            out = []
            for path, who in reads:
                r = await client.get(path, headers=auth(names[who]) if who else {})
                out.append((r.status, dict(r.headers), await r.read()))
            return out

    return run(go())


def test_snapshots_are_the_decode_scaled_to_h_rows_keeping_the_aspect_never_enlarged(tmp_path, tiny_ckpt, stream):
    frames, local = stream  # 96x64
    base = "/api/v1/devices/cam1/frames"
    reads = [(f"{base}/{KEY_SEQ}.jpg", "viewer"), (f"{base}/{KEY_SEQ + 2}.jpg", "viewer"),
             (f"{base}/{KEY_SEQ + 2}.jpg?h=32", "viewer"), (f"{base}/{KEY_SEQ + 2}.jpg?h=21", "viewer"),
             (f"{base}/{KEY_SEQ + 2}.jpg?h=1", "viewer"), (f"{base}/{KEY_SEQ + 2}.jpg?h=2160", "viewer"),
             (f"{base}/{KEY_SEQ + 2}.jpg?h=32", "viewer")]
    out = serve(tmp_path, tiny_ckpt, {"cam1": list(zip(range(KEY_SEQ, KEY_SEQ + 4), frames))}, reads)
    assert all(status == 200 for status, _, _ in out), [(s, b[:200]) for s, _, b in out]
    assert {h["Content-Type"] for _, h, _ in out} == {"image/jpeg"}
    assert {h["Cache-Control"] for _, h, _ in out} == {"private, max-age=31536000, immutable"}
    key, delta, h32, h21, h1, h2160, again = (body for _, _, body in out)
    assert key == expected(local[0]) and delta == h2160 == expected(local[2])  # full size, never enlarged
    assert h32 == again == expected(local[2], 32)  # the second one from the cache
    assert [image(b).shape for b in (key, h32, h21, h1)] == [(64, 96, 3), (32, 48, 3), (21, 32, 3), (1, 2, 3)]


def test_latest_jpg_is_the_frame_with_the_highest_sequence_number(tmp_path, tiny_ckpt, stream):
    frames, local = stream
    uploads = {"cam1": [(KEY_SEQ + i, frames[i]) for i in (0, 3, 2, 1)], "cam2": []}  # 13 needs 12 and 11
    out = serve(tmp_path, tiny_ckpt, uploads, [("/api/v1/devices/cam1/latest.jpg?h=32", "viewer"),
                                               ("/api/v1/devices/cam1/latest.jpg", "viewer"),
                                               ("/api/v1/devices/cam2/latest.jpg", "viewer")])
    (status, headers, body), (full_status, _, full), (empty, _, doc) = out
    assert status == full_status == 200 and headers["X-Edgecodec-Seq"] == str(KEY_SEQ + 3)  # not the last to arrive
    assert headers["Cache-Control"] == "no-store" and headers["Content-Type"] == "image/jpeg"
    assert body == expected(local[3], 32) and full == expected(local[3])
    assert empty == 404 and b'"not_found"' in doc


@pytest.mark.parametrize("h", ["0", "2161", "-1", "abc", "1.5", "", "%C2%B2", "00000001"])
def test_a_bad_h_is_refused_with_400(tmp_path, tiny_ckpt, stream, h):
    frames, _ = stream
    out = serve(tmp_path, tiny_ckpt, {"cam1": [(KEY_SEQ, frames[0])]},
                [(f"/api/v1/devices/cam1/frames/{KEY_SEQ}.jpg?h={h}", "viewer"),
                 (f"/api/v1/devices/cam1/latest.jpg?h={h}", "viewer")], decode_workers=0)
    for status, headers, body in out:
        assert status == 400 and b'"bad_request"' in body and headers["Cache-Control"] == "no-store"


def test_the_png_errors_propagate(tmp_path, tiny_ckpt, other_ckpt, stream):
    frames, _ = stream
    foreign = Codec(from_checkpoint(other_ckpt)).encode(np.full((32, 48, 3), 90, np.uint8), 50)
    uploads = {"cam1": [(KEY_SEQ + 2, frames[2])], "cam2": [(5, foreign)]}  # cam1: a delta frame, no key frame
    out = serve(tmp_path, tiny_ckpt, uploads, [(f"/api/v1/devices/cam1/frames/{KEY_SEQ + 2}.jpg?h=32", "viewer"),
                                               ("/api/v1/devices/cam1/latest.jpg", "viewer"),
                                               ("/api/v1/devices/cam2/frames/5.jpg", "viewer"),
                                               ("/api/v1/devices/cam2/frames/6.jpg", "viewer")])
    (missing, _, doc), (latest, _, latest_doc), (foreign_status, _, foreign_doc), (absent, _, _) = out
    assert missing == latest == 424 and b'"reference_missing"' in doc and b'"reference_missing"' in latest_doc
    assert foreign_status == 422 and b'"decode_failed"' in foreign_doc
    assert absent == 404


def test_without_decoders_snapshots_answer_503(tmp_path, tiny_ckpt, stream):
    frames, _ = stream
    out = serve(tmp_path, tiny_ckpt, {"cam1": [(KEY_SEQ, frames[0])]},
                [(f"/api/v1/devices/cam1/frames/{KEY_SEQ}.jpg", "viewer")], decode_workers=0)
    assert out[0][0] == 503 and b'"no_decoder"' in out[0][2]


def test_snapshots_need_a_viewer_token(tmp_path, tiny_ckpt, stream):
    frames, _ = stream
    paths = [f"/api/v1/devices/cam1/frames/{KEY_SEQ}.jpg?h=32", "/api/v1/devices/cam1/latest.jpg?h=bad"]
    out = serve(tmp_path, tiny_ckpt, {"cam1": [(KEY_SEQ, frames[0])]},
                [(p, who) for p in paths for who in (None, "cam1")], decode_workers=0)
    assert [status for status, _, _ in out] == [401, 403, 401, 403]
    assert all(b"image" not in headers["Content-Type"].encode() for _, headers, _ in out)


def test_the_cache_drops_the_least_recently_used_beyond_its_size():
    cache = SnapshotCache(limit=10)
    cache.put(("a", 1, None), b"1234")
    cache.put(("a", 2, None), b"5678")
    assert cache.get(("a", 1, None)) == b"1234"  # now the most recently used
    cache.put(("a", 3, 32), b"abcd")
    cache.put(("a", 4, 32), b"x" * 11)  # larger than the whole cache: not kept
    assert cache.get(("a", 2, None)) is None and cache.get(("a", 1, None)) == b"1234"
    assert cache.get(("a", 3, 32)) == b"abcd" and cache.get(("a", 4, 32)) is None and cache.size == 8
