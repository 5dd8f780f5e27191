"""The viewer page in headless Chromium (Debian's package): cameras, stats and the latest frame, and the
player (play, scrub, key and delta frames, a missing reference's placeholder, the bitrate chart)."""
from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
import time
from datetime import datetime, timezone

import cv2
import numpy as np
import pytest
from system_tools import require

from browser import Browser
from conftest import KEY_SEQ
from edgecodec.checkpoint import from_checkpoint
from edgecodec.codec import Codec, bitstream
from harness import Server, http, tokens

pytestmark = pytest.mark.usefixtures("one_thread")
CAPTURE_US = 1_700_000_000_000_000
PLAYER_H = 360  # the rows the player asks for (the test frames are smaller: sent full size)


@pytest.fixture(scope="module")
def chromium():
    return shutil.which("chromium-browser") or require("chromium")


def dump_dom(chromium: str, url: str, profile) -> str:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--virtual-time-budget=8000", "--dump-dom", url]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def renumbered(data: bytes, seq: int, ref_seq: int) -> bytes:
    """A delta frame of the stream under another sequence number and reference (a valid frame)."""
    frame = bitstream.unpack(data)
    return bitstream.pack(dataclasses.replace(frame.header, seq=seq, ref_seq=ref_seq), frame.streams)


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_ckpt, stream):
    """gate-1: three key frames 0.2 s apart. cam1: the stream's key frame 10 and delta frames 11..13, a delta
    frame 14 whose key frame (9) never arrives, a delta frame 15 of key frame 10; captured 0.2 s apart."""
    tmp = tmp_path_factory.mktemp("viewer")
    device, viewer = tokens(tmp / "data", "gate-1")
    cam1, _ = tokens(tmp / "data", "cam1")
    server = Server(tmp / "data", tiny_ckpt).start()
    model = from_checkpoint(tiny_ckpt)
    frames, _ = stream
    uploads = [("gate-1", device, seq, Codec(model).encode(np.full((48, 64, 3), 40 * seq, np.uint8), 50))
               for seq in range(3)]
    uploads += [("cam1", cam1, KEY_SEQ + i, data) for i, data in enumerate(frames)]
    uploads += [("cam1", cam1, 14, renumbered(frames[1], 14, 9)), ("cam1", cam1, 15, renumbered(frames[1], 15, 10))]
    for name, token, seq, body in uploads:
        status, _ = http("POST", f"{server.url}/api/v1/devices/{name}/frames/{seq}", token, body,
                         {"X-Edgecodec-Capture-Us": str(CAPTURE_US + seq * 200_000)})
        assert status == 201
    yield server, viewer, tmp
    server.stop()


def test_the_page_lists_cameras_with_stats_and_their_latest_frame(chromium, site):
    server, viewer, tmp = site
    dom = dump_dom(chromium, f"{server.url}/#token={viewer}", tmp / "profile-ok")
    assert 'id="cam-gate-1"' in dom
    row = dom[dom.index('id="cam-gate-1"'):]
    row = row[: row.index("</tr>")]
    assert '<td class="fps">5.0</td>' in row  # 3 frames 0.2 s apart
    assert 'data-loaded="1"' in row and 'data-seq="2"' in row and 'src="blob:' in row
    assert viewer not in dom  # the token left the address bar and the document


def test_without_a_valid_token_the_page_asks_for_one(chromium, site):
    server, viewer, tmp = site
    dom = dump_dom(chromium, f"{server.url}/#token=ecb_wrong", tmp / "profile-bad")
    assert "token refused" in dom and 'id="cam-gate-1"' not in dom
    assert '<form id="login">' in dom  # shown (no hidden attribute)


STATE = """(() => { const $ = (id) => document.getElementById(id);
  return {shown: $("screen").dataset.shown, play: $("play").textContent, picture: !$("picture").hidden,
          placeholder: $("placeholder").hidden ? null : $("placeholder").textContent,
          info: ["f-kind", "f-seq", "f-time", "f-size"].map((id) => $(id).textContent)}; })()"""
SCRUB = """(() => { const t = document.getElementById("timeline"); t.value = %d; t.dispatchEvent(new Event("input"));
  return true; })()"""
PIXELS = """(() => { const img = document.getElementById("picture"), c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight; const g = c.getContext("2d"); g.drawImage(img, 0, 0);
  return [c.height, c.width, Array.from(g.getImageData(0, 0, c.width, c.height).data)]; })()"""


def test_the_player_plays_scrubs_and_shows_a_missing_key_frame_as_a_placeholder(chromium, site, stream):
    server, viewer, tmp = site

    async def go():
        async with Browser(chromium, tmp / "profile-player") as b:
            await b.open(f"{server.url}/#token={viewer}&camera=cam1")
            await b.wait_for("document.getElementById('screen')?.dataset.shown === '15'")  # the newest frame
            listed = await b.js("[document.getElementById('timeline').max, document.getElementById('listing')"
                                ".textContent, document.getElementById('bitrate').dataset.keys, "
                                "document.querySelectorAll('#bitrate rect').length, location.hash]")
            await b.js("document.getElementById('play').click(), true")  # at the end: plays from the start
            played, deadline = [], time.monotonic() + 60
            while time.monotonic() < deadline:
                state = await b.js(STATE)
                if not played or played[-1]["shown"] != state["shown"]:
                    played.append(state)
                if state["play"] == "play" and state["shown"] == "15" and len(played) > 1:
                    break
                await asyncio.sleep(0.02)
            await b.js(SCRUB % 2)  # frame 12
            await b.wait_for("document.getElementById('screen').dataset.shown === '12'")
            delta, pixels = await b.js(STATE), await b.js(PIXELS)
            await b.js(SCRUB % 4)  # frame 14: its key frame never arrived
            await b.wait_for("document.getElementById('screen').dataset.shown === '14'")
            missing = await b.js(STATE)
            return listed, played, delta, pixels, missing, b.requests

    listed, played, delta, pixels, missing, requests = asyncio.run(go())
    since = when(15, 19, -600)  # a 10-minute window up to the newest frame
    assert listed[:4] == ["5", f"6 frames from {since}", "1", 6]  # 6 frames, 1 key frame, 6 bars of bitrate
    assert listed[4] == "#camera=cam1"  # the token left the address bar
    seqs = [int(s["shown"]) for s in played]  # 15 until play was pressed
    assert seqs[0] == 15 and seqs[1] <= 11 and seqs[1:] == sorted(seqs[1:]) and seqs[-1] == 15, seqs  # in order
    assert played[-1]["picture"] and played[-1]["placeholder"] is None  # continued past frame 14
    assert delta["info"] == ["delta", "12", when(KEY_SEQ + 2), str(len(stream[0][2]))]
    assert delta["picture"] and delta["placeholder"] is None
    rows, cols, rgba = pixels
    shown = np.array(rgba, np.uint8).reshape(rows, cols, 4)[:, :, :3].astype(int)
    status, jpeg = http("GET", f"{server.url}/api/v1/devices/cam1/frames/12.jpg?h={PLAYER_H}", viewer)
    served = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1].astype(int)
    assert status == 200 and shown.shape == served.shape and np.abs(shown - served).max() <= 3  # the server's decode
    assert f"{server.url}/api/v1/devices/cam1/frames/12.jpg?h={PLAYER_H}" in requests
    assert missing["info"][:2] == ["delta", "14"] and not missing["picture"]
    assert missing["placeholder"] == ("frame 14 of cam1 is a delta frame and frame 9, which it decodes from, "
                                      "has not arrived")  # the server's message
    assert not any(viewer in url for url in requests)  # the token travels in headers only


def when(seq: int, digits: int = 23, offset_s: int = 0) -> str:
    """Frame ``seq``'s capture time (plus ``offset_s``) as the player shows it: UTC, to the millisecond."""
    us = CAPTURE_US + seq * 200_000 + offset_s * 1_000_000
    return datetime.fromtimestamp(us / 1e6, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:digits]
