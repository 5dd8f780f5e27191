"""`edgecodec demo` part 1: a folder round-trips through real bytes, one line per image."""
from pathlib import Path

import pytest

from edgecodec.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


def test_demo_codes_every_image_and_reports_bpp_and_psnr(capsys):
    rc = main(["demo", str(ROOT / "data"), "--model", str(ROOT / "golden" / "dkic-tiny.pt"), "--frames", "0"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    rows = [line.split() for line in out if line.startswith("kodim")]
    assert [r[0] for r in rows] == ["kodim15.png", "kodim23.png"]
    for r in rows:
        bpp, psnr = float(r[3]), float(r[4])
        assert 0 < bpp < 24 and 5 < psnr < 60
    assert any(line.startswith("mean") for line in out)
