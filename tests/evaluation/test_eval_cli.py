"""``edgecodec eval`` end to end on two small crops with the tiny model, and its bad inputs."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [ROOT / "tests" / "data" / "kodim15.png", ROOT / "tests" / "data" / "kodim23.png"]


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for path in SAMPLES:
        cv2.imwrite(str(folder / path.name), cv2.imread(str(path), cv2.IMREAD_COLOR)[150:246, 220:348])  # 128x96
    return folder


def test_eval_writes_results_and_figures(cli, images, tmp_path, tiny_ckpt):
    pytest.importorskip("imagecodecs")
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    anchors = tmp_path / "anchors"  # a published curve exists, but these images are not Kodak
    anchors.mkdir()
    (anchors / "vtm.json").write_text(json.dumps({"name": "VTM", "results": {"bpp": [0.2, 0.5, 1.0],
                                                                             "psnr-rgb": [29.0, 32.5, 36.0]}}))
    res = cli("eval", images, "--model", tiny_ckpt, "--qualities", 30, 70, "--baselines", "jpeg", "webp",
              "--out", out, "--plot-crops", "--anchors", anchors)
    assert res.rc == 0, res.err
    assert "anchors: not used" in res.out and "BD of edgecodec" in res.out

    report = json.loads((out / "results.json").read_text())
    assert {"command", "conventions", "environment", "model", "images", "codecs", "bd", "notes"} <= set(report)
    assert report["command"].startswith("edgecodec eval ")
    assert report["images"]["names"] == ["kodim15.png", "kodim23.png"]
    assert "imagecodecs" in report["environment"] and "cpu" in report["environment"]
    assert set(report["codecs"]) == {"edgecodec", "jpeg", "webp"}
    assert set(report["bd"]) == {"jpeg", "webp"}
    assert {"bd_rate_psnr_pct", "bd_psnr_db", "psnr_overlap_db"} <= set(report["bd"]["jpeg"])

    ours = report["codecs"]["edgecodec"]["points"]
    assert [p["setting"] for p in ours] == [30.0, 70.0]
    for point in ours:
        assert len(point["images"]) == 2
        for rec in point["images"]:
            assert rec["bpp"] == pytest.approx(8 * rec["bytes"] / (128 * 96))
            assert {"psnr", "ms_ssim", "encode_s", "decode_s"} <= set(rec)
        assert point["bpp"] == pytest.approx(sum(r["bpp"] for r in point["images"]) / 2)
    for name in ("rd_psnr.png", "rd_msssim.png", "visual.png"):
        img = cv2.imread(str(out / name))
        assert img is not None and min(img.shape[:2]) > 100, name
    crops = sorted(p.name for p in (out / "crops").iterdir())
    assert "kodim15_original.png" in crops and "kodim23_webp.png" in crops
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_unavailable_codec_is_skipped_with_a_notice(cli, images, tmp_path, tiny_ckpt, monkeypatch):
    ic = pytest.importorskip("imagecodecs")
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(ic.AVIF, "available", False, raising=False)
    out = tmp_path / "out"
    res = cli("eval", images, "--model", tiny_ckpt, "--qualities", 50, 90, "--baselines", "avif", "jpeg",
              "--out", out, "--images", 1)
    assert res.rc == 0, res.err
    assert "avif: skipped" in res.err
    report = json.loads((out / "results.json").read_text())
    assert set(report["codecs"]) == {"edgecodec", "jpeg"} and len(report["images"]["names"]) == 1


@pytest.mark.parametrize("case", ["missing", "empty", "not_images", "bad_model", "bad_quality", "bad_anchors"])
def test_bad_input_is_one_error_line(cli, tmp_path, images, tiny_ckpt, case):
    folder, extra = images, ["--model", tiny_ckpt]
    if case == "missing":
        folder = tmp_path / "nope"
    elif case in ("empty", "not_images"):
        folder = tmp_path / case
        folder.mkdir()
        if case == "not_images":
            (folder / "notes.txt").write_text("hello")
    elif case == "bad_model":
        extra = ["--model", str(tmp_path / "missing.pt")]
    elif case == "bad_quality":
        extra += ["--qualities", "50", "150"]
    elif case == "bad_anchors":
        extra += ["--anchors", str(tmp_path / "no-anchors")]
    out = tmp_path / "out"
    res = cli("eval", folder, *extra, "--out", out)
    errors = [line for line in res.err_lines if line.startswith("edgecodec: error:")]
    assert res.rc != 0 and len(errors) == 1, res.err
    assert "Traceback" not in res.err and "internal error" not in errors[0]
    assert not out.exists()


def test_ms_ssim_is_null_where_undefined_and_averaged_where_defined(cli, images, tmp_path, tiny_ckpt):
    pytest.importorskip("matplotlib")
    big = cv2.imread(str(images / "kodim15.png"))
    cv2.imwrite(str(images / "thin.png"), big[:1, :100])  # 1x100 and 3x3: smaller than the 11x11 window
    cv2.imwrite(str(images / "tiny.png"), big[:3, :3])
    out = tmp_path / "out"
    res = cli("eval", images, "--model", tiny_ckpt, "--qualities", 50, "--baselines", "--out", out)
    assert res.rc == 0, res.err
    point = json.loads((out / "results.json").read_text())["codecs"]["edgecodec"]["points"][0]
    by_name = {r["image"]: r for r in point["images"]}
    assert by_name["thin.png"]["ms_ssim"] is None and by_name["tiny.png"]["ms_ssim"] is None
    assert by_name["thin.png"]["psnr"] > 0 and by_name["tiny.png"]["psnr"] > 0
    defined = [by_name[n]["ms_ssim"] for n in ("kodim15.png", "kodim23.png")]
    assert point["ms_ssim"] == pytest.approx(sum(defined) / 2)


def test_ms_ssim_undefined_for_every_image_is_reported_as_not_available(cli, tmp_path, tiny_ckpt):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "thin"
    folder.mkdir()
    cv2.imwrite(str(folder / "line.png"), cv2.imread(str(SAMPLES[0]))[:1, :2000])
    out = tmp_path / "out"
    res = cli("eval", folder, "--model", tiny_ckpt, "--qualities", 50, "--baselines", "--out", out)
    assert res.rc == 0, res.err
    assert not res.err_lines
    point = json.loads((out / "results.json").read_text())["codecs"]["edgecodec"]["points"][0]
    assert point["ms_ssim"] is None and point["ms_ssim_db"] is None and point["psnr"] > 0
    assert "n/a" in next(line for line in res.out.splitlines() if line.startswith("edgecodec"))


def test_ms_ssim_refuses_images_smaller_than_its_window():
    import torch

    from edgecodec.quality import ms_ssim

    x = torch.rand(1, 3, 10, 64)
    with pytest.raises(ValueError, match="at least 11x11"):
        ms_ssim(x, x)
    y = torch.rand(1, 3, 11, 11)
    assert float(ms_ssim(y, y)) == pytest.approx(1.0)


def test_crops_of_images_sharing_a_stem_do_not_overwrite_each_other(cli, tmp_path, tiny_ckpt):
    pytest.importorskip("imagecodecs")
    pytest.importorskip("matplotlib")
    folder = tmp_path / "dup"
    folder.mkdir()
    crop = cv2.imread(str(SAMPLES[0]))[150:246, 220:348]
    for name in ("a.png", "a.PNG", "a.jpg"):
        cv2.imwrite(str(folder / name), crop, [cv2.IMWRITE_JPEG_QUALITY, 90] if name.endswith("jpg") else [])
    out = tmp_path / "out"
    res = cli("eval", folder, "--model", tiny_ckpt, "--qualities", 50, "--baselines", "jpeg", "--out", out,
              "--plot-crops")
    assert res.rc == 0, res.err
    crops = sorted(p.name for p in (out / "crops").iterdir())
    assert len(crops) == 9 and "a.PNG_original.png" in crops and "a.jpg_jpeg.png" in crops


@pytest.mark.parametrize("blocker", ["crops", "visual.png"])
def test_unusable_output_location_is_refused_before_any_work(cli, images, tmp_path, tiny_ckpt, blocker):
    out = tmp_path / "out"
    out.mkdir()
    if blocker == "crops":
        (out / "crops").write_text("a file where the crops folder goes")
    else:
        (out / blocker).mkdir()
    res = cli("eval", images, "--model", tiny_ckpt, "--qualities", 50, "--baselines", "--out", out, "--plot-crops")
    assert res.rc == 1 and len(res.err_lines) == 1 and res.err.startswith("edgecodec: error: output "), res.err
    assert sorted(p.name for p in out.iterdir()) == [blocker] and not res.out
