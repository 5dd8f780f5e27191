"""``edgecodec compare``: BD-rate between two eval runs."""
from __future__ import annotations

import json

import pytest


def results(path, bpp_factor: float, names=("a.png", "b.png"), decode_s: float = 0.2) -> str:
    points = [{"setting": q, "bpp": bpp * bpp_factor, "psnr": psnr, "ms_ssim_db": psnr / 2,
               "encode_s": 0.1, "decode_s": decode_s}
              for q, bpp, psnr in ((10, 0.2, 26.0), (50, 0.5, 29.0), (90, 1.2, 32.5))]
    path.write_text(json.dumps({"images": {"folder": "x", "names": list(names)},
                                "codecs": {"edgecodec": {"label": "edgecodec", "points": points}}}))
    return str(path)


def test_ten_percent_fewer_bits_at_every_point_is_minus_ten_percent(cli, tmp_path):
    ref = results(tmp_path / "ref.json", 1.0)
    test = results(tmp_path / "test.json", 0.9, decode_s=0.1)
    r = cli("compare", ref, test)
    assert r.rc == 0, r.err
    assert "BD-rate (PSNR) -10.00 %" in r.out and "BD-rate (MS-SSIM) -10.00 %" in r.out
    assert "mean decode time: 100 ms vs 200 ms" in r.out


@pytest.mark.parametrize("content", ["not json", "{}", '{"images": {"names": []}, "codecs": {}}'])
def test_files_that_are_not_eval_results_are_one_line_errors(cli, tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    r = cli("compare", results(tmp_path / "ref.json", 1.0), str(bad))
    assert r.rc == 1 and r.err_lines == [f"edgecodec: error: {bad} is not a results.json written by `edgecodec eval`"]


def test_different_image_sets_are_refused(cli, tmp_path):
    r = cli("compare", results(tmp_path / "ref.json", 1.0), results(tmp_path / "t.json", 1.0, names=("c.png",)))
    assert r.rc == 1 and "different images" in r.err


@pytest.mark.parametrize("which", ["reference", "test"])
@pytest.mark.parametrize("points", [[], [{"setting": 50, "bpp": 0.0, "psnr": 30.0, "ms_ssim_db": 12.0,
                                          "encode_s": 0.1, "decode_s": 0.1}], "none"])
def test_results_without_usable_points_are_refused_before_any_output(cli, tmp_path, which, points):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": {"names": ["a.png", "b.png"]},
                               "codecs": {"edgecodec": {"points": points}}}))
    good = results(tmp_path / "good.json", 1.0)
    r = cli("compare", *((bad, good) if which == "reference" else (good, bad)))
    assert r.rc == 1 and not r.out and len(r.err_lines) == 1, (r.out, r.err)
    assert r.err.startswith(f"edgecodec: error: {bad} is not a results.json written by `edgecodec eval` (")



def svg_labels(path) -> list[str]:
    """The legend's and tick labels' texts of an SVG written by the plotting module (text kept as text)."""
    import xml.etree.ElementTree as ET

    return ["".join(t.itertext()) for t in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text")]


def test_plot_writes_both_runs_curves(cli, tmp_path):
    ref, test, out = results(tmp_path / "ref.json", 1.0), results(tmp_path / "test.json", 0.9), tmp_path / "rd.svg"
    r = cli("compare", ref, test, "--plot", out)
    assert r.rc == 0, r.err
    assert f"wrote {out}" in r.out
    labels = svg_labels(out)
    assert f"reference: {ref}" in labels and f"test: {test}" in labels


@pytest.mark.parametrize("target", ["missing/rd.svg", "folder", "rd.pdf"])
def test_a_bad_plot_path_is_one_line_error_before_any_output(cli, tmp_path, target):
    (tmp_path / "folder").mkdir()
    out = tmp_path / target
    r = cli("compare", results(tmp_path / "ref.json", 1.0), results(tmp_path / "test.json", 0.9), "--plot", out)
    assert r.rc == 1 and not r.out and len(r.err_lines) == 1, (r.out, r.err)
    assert r.err.startswith(f"edgecodec: error: --plot {out}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "ref.json", "test.json"]


def test_a_failed_compare_leaves_no_plot(cli, tmp_path):
    out = tmp_path / "rd.svg"
    r = cli("compare", results(tmp_path / "ref.json", 1.0), results(tmp_path / "t.json", 1.0, names=("c.png",)),
            "--plot", out)
    assert r.rc == 1 and not out.exists()
