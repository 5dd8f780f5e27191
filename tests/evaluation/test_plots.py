"""R-D plots: the axes cover edgecodec's curves, not the anchors' far ends."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from edgecodec.evaluation.plots import Series, rd_limits, rd_plot

SVG = "{http://www.w3.org/2000/svg}"
OWN = Series("edgecodec", [0.07, 0.33, 0.66, 1.35], [23.2, 27.2, 30.4, 33.2], "edgecodec")
VTM = Series("VTM", [0.05, 0.5, 1.5, 4.7], [26.0, 34.0, 40.0, 47.0], "anchor")


def ticks(svg: bytes, axis: str) -> list[float]:
    """The tick labels of one axis ('x' or 'y') of a matplotlib SVG written with text as text."""
    groups = (g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("id", "").startswith(f"{axis}tick_"))
    return [float("".join(t.itertext()).replace("\u2212", "-")) for g in groups for t in g.iter(f"{SVG}text")]


def test_the_x_axis_is_edgecodecs_range_with_a_small_margin():
    (x0, x1), _ = rd_limits([OWN, VTM])
    span = 1.35 - 0.07
    assert x0 == pytest.approx(0.07 - 0.05 * span) and x1 == pytest.approx(1.35 + 0.05 * span)


def test_the_y_axis_holds_what_every_curve_shows_inside_the_x_range():
    (_, x1), (y0, y1) = rd_limits([OWN, VTM])
    vtm_at_edge = 34.0 + (x1 - 0.5) / (1.5 - 0.5) * 6.0  # VTM is cut at the right edge, not at its last point
    pad = 0.05 * (vtm_at_edge - 23.2)
    assert (y0, y1) == pytest.approx((23.2 - pad, vtm_at_edge + pad))


def test_the_x_axis_never_goes_below_zero_and_one_point_still_has_a_range():
    (x0, x1), _ = rd_limits([Series("edgecodec", [0.01, 0.02], [20.0, 21.0], "edgecodec")], margin=2.0)
    assert x0 == 0.0 and x1 > 0.02
    (x0, x1), (y0, y1) = rd_limits([Series("edgecodec", [0.5], [30.0], "edgecodec")])
    assert x0 < 0.5 < x1 and y0 < 30.0 < y1


def test_without_an_edgecodec_point_matplotlib_chooses():
    assert rd_limits([VTM, Series("edgecodec", [None], [None], "edgecodec")]) is None


def test_the_svg_axis_stops_at_edgecodecs_range_though_vtm_reaches_4_7_bpp():
    svg = rd_plot([OWN, VTM], "PSNR RGB (dB)", "test", fmt="svg")
    x, y = ticks(svg, "x"), ticks(svg, "y")
    assert x and max(x) <= 1.5 and min(x) >= 0.0
    assert y and max(y) <= 42.0  # VTM reaches 47 dB at 4.7 bpp


def test_png_stays_the_default():
    assert rd_plot([OWN, VTM], "PSNR RGB (dB)", "test").startswith(b"\x89PNG")
