"""bench/photo_set.py's pure parts on synthetic images: sizes, resampling, file choice, refusals.
No network and no apt: the download is not exercised here."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("photo_set", ROOT / "bench" / "photo_set.py")
photo_set = importlib.util.module_from_spec(_spec)
sys.modules["photo_set"] = photo_set  # dataclasses look their module up there
_spec.loader.exec_module(photo_set)


@pytest.mark.parametrize("size, long_side, expected", [
    ((2560, 1600), 768, (768, 480)),
    ((1600, 1203), 768, (768, 577)),   # not a multiple of 64: kept as the aspect ratio says
    ((1280, 1024), 768, (768, 614)),
    ((1200, 1920), 768, (480, 768)),   # portrait
    ((768, 512), 768, (768, 512)),
    ((500, 300), 768, (500, 300)),     # never enlarged
    ((4000, 3), 768, (768, 1)),        # at least one pixel
])
def test_target_size(size, long_side, expected):
    assert photo_set.target_size(*size, long_side) == expected


def test_target_size_rejects_nonsense():
    with pytest.raises(ValueError):
        photo_set.target_size(0, 10, 768)


def test_downsample_keeps_flat_colour_and_makes_rgb():
    grey = Image.new("L", (1600, 1000), 77)
    out = photo_set.downsample(grey, 768)
    assert out.mode == "RGB" and out.size == (768, 480)
    assert np.all(np.asarray(out) == 77)


def test_downsample_averages_fine_detail():
    """A one-pixel checkerboard shrunk 4x becomes its mean, as an area filter would give,
    not the aliased pattern nearest-neighbour sampling leaves."""
    board = (np.indices((800, 1200)).sum(axis=0) % 2 * 200).astype(np.uint8)
    out = np.asarray(photo_set.downsample(Image.fromarray(board).convert("RGB"), 300))
    assert out.shape == (200, 300, 3)
    assert abs(float(out.mean()) - 100.0) < 1.0 and out.std() < 2.0


def test_downsample_turns_the_picture_upright(tmp_path):
    im = Image.new("RGB", (1000, 600), (10, 20, 30))
    exif = im.getexif()
    exif[0x0112] = 6  # rotated: shown as 600x1000
    im.save(tmp_path / "x.jpg", exif=exif)
    with Image.open(tmp_path / "x.jpg") as rotated:
        assert photo_set.downsample(rotated, 500).size == (300, 500)


def test_downsample_refuses_transparency():
    with pytest.raises(photo_set.PhotoSetError):
        photo_set.downsample(Image.new("RGBA", (100, 100)), 50)


def test_largest_size_by_pixels(tmp_path):
    for name in ("640x480.jpg", "2560x1440.jpg", "1920x1200.jpg", "2560x1600.jpg", "3000x1.png",
                 "metadata.json", "screenshot.png"):
        (tmp_path / name).write_bytes(b"")
    assert photo_set.largest_size(tmp_path).name == "2560x1600.jpg"
    with pytest.raises(photo_set.PhotoSetError):
        photo_set.largest_size(tmp_path / "missing")


def test_source_file_and_row(tmp_path):
    images = tmp_path / "usr/share/wallpapers/Kite/contents/images"
    images.mkdir(parents=True)
    for name in ("800x600.jpg", "2560x1600.jpg"):
        (images / name).write_bytes(b"")
    kite = next(p for p in photo_set.PHOTOS if p.name == "Kite")
    src = photo_set.source_file(tmp_path, kite)
    assert src == images / "2560x1600.jpg"
    row = photo_set.source_line(kite, "4:5.27.5-2", str(src.relative_to(tmp_path)), (2560, 1600), (768, 480))
    cols = row.split("\t")
    assert len(cols) == len(photo_set.SOURCES_HEADER.split("\t"))
    assert cols[:6] == ["Kite.png", "plasma-workspace-wallpapers", "4:5.27.5-2",
                        "/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg", "2560x1600", "768x480"]
    aqua = next(p for p in photo_set.PHOTOS if p.name == "Aqua")
    with pytest.raises(photo_set.PhotoSetError, match="has no"):
        photo_set.source_file(tmp_path, aqua)


def test_photo_list_is_well_formed():
    names = [p.name for p in photo_set.PHOTOS]
    assert len(names) == len(set(names)) == 23
    assert all(p.package in photo_set.PACKAGES and p.licence and p.author for p in photo_set.PHOTOS)


def test_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "old.png").write_bytes(b"")
    assert photo_set.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"photo_set: {tmp_path}: exists and is not empty"
    (tmp_path / "file").write_bytes(b"")
    assert photo_set.main([str(tmp_path / "file")]) == 1
    assert "not a folder" in capsys.readouterr().err
    photo_set.check_out_dir(tmp_path / "new")  # absent: accepted
    (tmp_path / "empty").mkdir()
    photo_set.check_out_dir(tmp_path / "empty")  # empty: accepted


def test_rejects_a_tiny_long_side(tmp_path, capsys):
    assert photo_set.main([str(tmp_path / "new"), "--long-side", "4"]) == 2
    assert "--long-side" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
