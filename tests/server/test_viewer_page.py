"""The viewer page in headless Chromium (Debian's package): cameras, stats and the latest frame."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from edgecodec.checkpoint import from_checkpoint
from edgecodec import codec
from harness import Server, http, tokens

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def chromium():
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed: run `make system-deps` (Debian package chromium)")
    return binary


def dump_dom(chromium: str, url: str, profile) -> str:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--virtual-time-budget=8000", "--dump-dom", url]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_ckpt):
    tmp = tmp_path_factory.mktemp("viewer")
    device, viewer = tokens(tmp / "data", "gate-1")
    server = Server(tmp / "data", tiny_ckpt).start()
    model = from_checkpoint(tiny_ckpt)
    for seq in range(3):
        img = np.full((48, 64, 3), 40 * seq, np.uint8)
        status, _ = http("POST", f"{server.url}/api/v1/devices/gate-1/frames/{seq}", device,
                         codec.Codec(model).encode(img, 50), {"X-Edgecodec-Capture-Us": str(1_700_000_000_000_000 + seq * 200_000)})
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
