"""Paging a frame listing by sequence number (``after``, ``next``, ``truncated``), in both index modes:
no frame skipped or repeated, even when capture times are out of order with sequence numbers."""
from __future__ import annotations

import pytest

from app_client import app_client, run
from edgecodec.common.protocol import MAX_SEQ
from edgecodec.server.tokens import TokenStore
from test_read_api import auth, camera_and_viewer, frame, upload_all

pytestmark = pytest.mark.usefixtures("one_thread")
T0 = 1_700_000_000_000_000
CAPTURE_S = [5, 1, 9, 3, 7, 2, 8, 4, 6, 0]  # of seqs 0..9: capture order is not seq order
URL = "/api/v1/devices/cam1/frames"


@pytest.fixture(params=["embedded", "scaled"])
def settings(request) -> dict:
    return {"nats": request.getfixturevalue("nats_url")} if request.param == "scaled" else {}


def test_pages_cover_the_window_once_in_seq_order(tmp_path, tiny_ckpt, settings):
    device, viewer = camera_and_viewer(tmp_path)
    body = frame(tiny_ckpt, 0)
    window = f"since={(T0 + 1_000_000) / 1e6}&until={(T0 + 9_000_000) / 1e6}"  # captured at 1..8 s: 8 frames

    async def go():
        async with app_client(tmp_path, **settings) as (client, _):
            await upload_all(client, device, body, [T0 + seconds * 1_000_000 for seconds in CAPTURE_S])
            whole = await (await client.get(f"{URL}?{window}", headers=auth(viewer))).json()
            pages, after = [], ""
            while after is not None:
                page = await (await client.get(f"{URL}?{window}&limit=4{after}", headers=auth(viewer))).json()
                pages.append(page)
                after = f"&after={page['next']}" if page["next"] is not None else None
            return whole, pages

    whole, pages = run(go())
    in_window = [seq for seq, s in enumerate(CAPTURE_S) if 1 <= s < 9]
    assert [f["seq"] for f in whole["frames"]] == in_window and not whole["truncated"] and whole["next"] is None
    assert [[f["seq"] for f in p["frames"]] for p in pages] == [in_window[:4], in_window[4:]]
    assert [(p["truncated"], p["next"]) for p in pages] == [(True, in_window[3]), (False, None)]


def test_a_page_cut_short_says_so_and_the_last_page_does_not(tmp_path, tiny_ckpt):
    device, viewer = camera_and_viewer(tmp_path)
    body = frame(tiny_ckpt, 0)

    async def go():
        async with app_client(tmp_path) as (client, _):
            await upload_all(client, device, body, [T0 + seq for seq in range(5)])
            answers = []
            for query in ("limit=2", "limit=2&after=1", "limit=2&after=3", "after=4", f"after={MAX_SEQ}"):
                answers.append(await (await client.get(f"{URL}?{query}", headers=auth(viewer))).json())
            return answers

    answers = run(go())
    assert [([f["seq"] for f in a["frames"]], a["truncated"], a["next"]) for a in answers] == [
        ([0, 1], True, 1), ([2, 3], True, 3), ([4], False, None), ([], False, None), ([], False, None)]


@pytest.mark.parametrize("after", ["-1", "x", "1.5", "", str(MAX_SEQ + 1), "0x10", "１"])
def test_a_bad_after_is_400(tmp_path, after):
    viewer = TokenStore(tmp_path).add("alice", "viewer")

    async def go():
        async with app_client(tmp_path) as (client, _):
            resp = await client.get(URL, params={"after": after}, headers=auth(viewer))
            return resp.status, await resp.json()

    status, answer = run(go())
    assert status == 400 and answer["reason"] == "bad_request" and "after" in answer["error"], answer
