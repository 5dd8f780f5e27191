"""Line charts as inline SVG text, so the report needs no plotting library on the device."""
from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np

COLORS = ("#000000", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")
WIDTH, HEIGHT = 640, 400
MARGIN = (40, 20, 45, 60)  # top, right, bottom, left


@dataclass
class Line:
    """One labelled curve."""

    label: str
    x: list[float]
    y: list[float]


def _ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """About ``count`` round tick values covering [lo, hi]."""
    step = 10 ** math.floor(math.log10(max(hi - lo, 1e-9) / count))
    for factor in (1, 2, 5, 10):
        if (hi - lo) / (step * factor) <= count:
            step *= factor
            break
    return [float(t) for t in np.arange(math.ceil(lo / step) * step, hi + step / 2, step) if t <= hi]


def _range(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad


def line_chart(lines: list[Line], xlabel: str, ylabel: str, title: str) -> str:
    """SVG text of the curves (points joined in the given order), with axes, ticks and a legend."""
    lines = [ln for ln in lines if ln.x]
    if not lines:
        return ""
    top, right, bottom, left = MARGIN
    (x0, x1), (y0, y1) = _range([v for ln in lines for v in ln.x]), _range([v for ln in lines for v in ln.y])

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (WIDTH - left - right)

    def py(y: float) -> float:
        return HEIGHT - bottom - (y - y0) / (y1 - y0) * (HEIGHT - top - bottom)

    legend = 18 * len(lines) + 10  # one row per curve under the chart
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + legend}" font-size="12">',
           f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">{html.escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{WIDTH - left - right}" height="{HEIGHT - top - bottom}" '
           'fill="none" stroke="#888"/>']
    for t in _ticks(x0, x1):
        out.append(f'<text x="{px(t):.1f}" y="{HEIGHT - bottom + 16}" text-anchor="middle">{t:g}</text>')
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" text-anchor="middle">{html.escape(xlabel)}</text>')
    out.append(f'<text transform="translate(14 {HEIGHT / 2}) rotate(-90)" text-anchor="middle">'
               f'{html.escape(ylabel)}</text>')
    for i, ln in enumerate(lines):
        color = COLORS[i % len(COLORS)]
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(ln.x, ln.y, strict=True))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        out += [f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="3" fill="{color}"/>' for p in pts.split()]
        y = HEIGHT + 18 * i + 14
        out.append(f'<line x1="{left}" x2="{left + 24}" y1="{y - 4}" y2="{y - 4}" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{left + 30}" y="{y}" fill="{color}">{html.escape(ln.label)}</text>')
    out.append("</svg>")
    return "\n".join(out)
