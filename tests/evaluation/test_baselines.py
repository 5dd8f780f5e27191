"""Classical baselines through imagecodecs, and the published anchor curves."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecodec.evaluation.anchors import KODAK_NAMES, is_kodak, load_anchors, read_anchor
from edgecodec.evaluation.baselines import BASELINE_NAMES, load_baselines
from edgecodec.quality import psnr_u8

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "kodim15.png"


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A detailed 128x96 RGB crop (odd multiples for the block codecs: 96 is not a multiple of 64)."""
    return np.ascontiguousarray(cv2.imread(str(SAMPLE), cv2.IMREAD_COLOR)[150:246, 220:348, ::-1])


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_round_trip_and_rate_follows_quality(name, image):
    pytest.importorskip("imagecodecs")
    codecs, notices = load_baselines([name])
    if not codecs:
        pytest.skip(notices[0])
    codec = codecs[0]
    bpp, psnr = [], []
    for setting in codec.settings:  # ordered from the lowest to the highest rate
        data = codec.encode(image, setting)
        decoded = codec.decode(data)
        assert isinstance(data, bytes) and decoded.shape == image.shape and decoded.dtype == np.uint8
        bpp.append(8 * len(data) / (image.shape[0] * image.shape[1]))
        psnr.append(psnr_u8(image, decoded))
    inversions = sum(b >= a for a, b in zip(bpp[1:], bpp[:-1]))
    assert inversions <= 1, f"{name}: bpp not increasing with the setting: {bpp}"
    assert bpp[-1] > 2 * bpp[0]
    assert 20 < psnr[0] < psnr[-1] and psnr[-1] > 35, f"{name}: {psnr}"


def test_unavailable_codec_is_a_notice(monkeypatch):
    ic = pytest.importorskip("imagecodecs")
    monkeypatch.setattr(ic.AVIF, "available", False, raising=False)
    codecs, notices = load_baselines(["jpeg", "avif"])
    assert [c.key for c in codecs] == ["jpeg"]
    assert len(notices) == 1 and notices[0].startswith("avif: skipped")


def test_missing_imagecodecs_skips_everything(monkeypatch):
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    codecs, notices = load_baselines(["jpeg", "webp"])
    assert codecs == [] and len(notices) == 2 and "not installed" in notices[0]


def test_unknown_baseline_is_an_error():
    with pytest.raises(ValueError, match="unknown baseline"):
        load_baselines(["jpeg2000"])


def test_kodak_detection():
    sizes = [(512, 768)] * 24
    assert is_kodak(KODAK_NAMES, sizes)
    assert not is_kodak(KODAK_NAMES[:3], sizes[:3])
    assert not is_kodak(KODAK_NAMES[:-1] + ["kodim25.png"], sizes)
    assert not is_kodak(KODAK_NAMES, [(100, 100)] * 24)


def test_anchor_file_formats(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(
        {"name": "x", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [28.0, 30.0], "ms-ssim-db-rgb": [10.0, 20.0]}}))
    curve = read_anchor(tmp_path / "a.json", "label")
    assert curve.label == "label" and curve.psnr == [28.0, 30.0]
    assert curve.ms_ssim == pytest.approx([0.9, 0.99])
    (tmp_path / "b.json").write_text('{"name": "broken"}')
    with pytest.raises(ValueError, match="not a CompressAI result file"):
        read_anchor(tmp_path / "b.json")
    with pytest.raises(FileNotFoundError):
        load_anchors(tmp_path / "missing")


def test_published_anchors_load(tmp_path):
    """CompressAI-format result files load (the real ones where the shared data set is present)."""
    folder = ROOT.parent / "shared" / "data" / "anchors" / "compressai_kodak"
    if not folder.is_dir():  # the same format, written here: the loader is tested either way
        folder = tmp_path
        for name, label in (("vtm.json", "VTM"), ("paper-elic2022_mse.json", "ELIC"),
                            ("compressai-cheng2020-anchor_mse_cpu.json", "cheng2020-anchor")):
            (folder / name).write_text(json.dumps({"name": label, "results": {
                "bpp": [0.1, 0.4, 1.0], "psnr-rgb": [28.0, 33.0, 37.5], "ms-ssim-rgb": [0.9, 0.97, 0.99]}}))
    curves = {c.label: c for c in load_anchors(folder)}
    assert {"VTM", "ELIC (paper)", "cheng2020-anchor"} <= set(curves)
    vtm = curves["VTM"]
    assert len(vtm.bpp) == len(vtm.psnr) and 25 < min(vtm.psnr) < max(vtm.psnr) < 50
