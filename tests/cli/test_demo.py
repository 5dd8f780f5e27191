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


def test_without_a_folder_the_demo_codes_the_photos_shipped_with_the_package(capsys):
    rc = main(["demo", "--model", str(ROOT / "golden" / "dkic-tiny.pt"), "--frames", "0"])
    out = capsys.readouterr().out
    assert rc == 0 and "edgecodec/samples" in out.replace("\\", "/")
    assert [line.split()[0] for line in out.splitlines() if line.startswith("kodim")] == ["kodim15.png", "kodim23.png"]


def test_a_missing_video_is_one_line(cli, tmp_path):
    res = cli("demo", "--video", tmp_path / "absent.avi", "--frames", "2")
    assert res.rc == 1 and res.err_lines == [f"edgecodec: error: video {tmp_path / 'absent.avi'} is not a file"]
