"""Figures of the evaluation: rate-distortion plots and a visual comparison at equal bpp.

Rendered with matplotlib's object API (no pyplot, no display needed) into PNG or SVG bytes,
so the caller writes them atomically.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .baselines import Codec
from .runner import Image, measure

Span = tuple[float, float]
EDGECODEC_STYLE = {"color": "black", "linewidth": 2.8, "marker": "o", "markersize": 6, "zorder": 10}


@dataclass
class Series:
    """One curve to draw; ``kind`` is 'edgecodec', 'baseline' or 'anchor'."""

    label: str
    bpp: list[float]
    value: list[float]
    kind: str


@dataclass
class Tile:
    """One crop of the visual comparison."""

    image: str
    codec: str
    label: str
    pixels: np.ndarray


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _png(fig, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _svg(fig) -> bytes:
    """SVG with text as text (searchable, smaller) and no date, so equal figures give equal bytes."""
    from matplotlib import rc_context

    buf = io.BytesIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "edgecodec"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _points(s: Series) -> list[tuple[float, float]]:
    """The finite (bpp, value) pairs of a series, by bpp."""
    return sorted((b, v) for b, v in zip(s.bpp, s.value)
                  if b is not None and v is not None and np.isfinite(b) and np.isfinite(v))


def _at(pts: list[tuple[float, float]], x: float) -> list[float]:
    """The curve's value at ``x`` (linear between its points), [] outside its bpp range."""
    return [float(np.interp(x, *zip(*pts)))] if pts[0][0] <= x <= pts[-1][0] else []


def rd_limits(series: Sequence[Series], margin: float = 0.05) -> tuple[Span, Span] | None:
    """((x0, x1), (y0, y1)) of an R-D plot: the bpp range of the edgecodec series, ``margin`` of it wider
    on each side (not below 0), and the values every curve takes inside it (curves clipped at the edges);
    None without an edgecodec point (matplotlib's own limits then)."""
    curves = [(s.kind, pts) for s in series if (pts := _points(s))]
    own = [b for kind, pts in curves if kind == "edgecodec" for b, _ in pts]
    if not own:
        return None
    pad = margin * (max(own) - min(own)) or margin * max(own)
    x0, x1 = max(min(own) - pad, 0.0), max(own) + pad
    ys = [v for _, pts in curves for v in [v for b, v in pts if x0 <= b <= x1] + _at(pts, x0) + _at(pts, x1)]
    ypad = margin * (max(ys) - min(ys)) or 1.0
    return (x0, x1), (min(ys) - ypad, max(ys) + ypad)


def rd_plot(series: Sequence[Series], ylabel: str, title: str, fmt: str = "png") -> bytes:
    """PNG (or ``fmt="svg"``) of bpp against a quality measure over edgecodec's bpp range (rd_limits):
    edgecodec bold black (solid, then dashed, dotted for more edgecodec series), anchors dashed."""
    fig = _figure(8, 6)
    ax = fig.add_subplot(1, 1, 1)
    own = 0
    for s in series:
        pts = _points(s)
        if not pts:
            continue
        x, y = zip(*pts)
        if s.kind == "edgecodec":
            ax.plot(x, y, label=s.label, **{**EDGECODEC_STYLE, "linestyle": ("-", "--", ":")[own % 3]})
            own += 1
        elif s.kind == "anchor":
            ax.plot(x, y, label=s.label, linestyle="--", linewidth=1.2, marker=".", alpha=0.8)
        else:
            ax.plot(x, y, label=s.label, linewidth=1.6, marker="s", markersize=4)
    limits = rd_limits(series)
    if limits:
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
    ax.set_xlabel("bits per pixel (real file size)" + ("; axis: edgecodec's range, other curves cut" if limits else ""))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if ax.lines:  # none where the measure is undefined for every image (MS-SSIM of tiny images)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _svg(fig) if fmt == "svg" else _png(fig, 120)


def detail_crop(image: np.ndarray, size: int) -> tuple[int, int, int]:
    """(top, left, side) of the square crop with the most gradient energy (luma)."""
    h, w = image.shape[:2]
    side = min(size, h, w)
    luma = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    energy = np.zeros((h, w))
    energy[:, 1:] += np.abs(np.diff(luma, axis=1))
    energy[1:, :] += np.abs(np.diff(luma, axis=0))
    table = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(side // 4, 1)
    best, where = -1.0, (0, 0)
    for top in range(0, h - side + 1, step):
        for left in range(0, w - side + 1, step):
            total = (table[top + side, left + side] - table[top, left + side]
                     - table[top + side, left] + table[top, left])
            if total > best:
                best, where = total, (top, left)
    return where[0], where[1], side


def closest_point(result: dict, image: str, target_bpp: float) -> tuple[float, dict]:
    """(setting, per-image record) of ``result`` whose bpp on ``image`` is nearest in log ratio."""
    options = [(p["setting"], r) for p in result["points"] for r in p["images"] if r["image"] == image]
    return min(options, key=lambda o: abs(np.log(o[1]["bpp"] / target_bpp)))


def pick_images(images: Sequence[Image], count: int) -> list[Image]:
    """Up to ``count`` images spread evenly over the list."""
    k = min(count, len(images))
    idx = sorted({round(i * (len(images) - 1) / max(k - 1, 1)) for i in range(k)})
    return [images[i] for i in idx]


def _label(codec: Codec, setting: float, record: dict) -> str:
    return (f"{codec.label} {codec.parameter[0]}={setting:g}\n"
            f"{record['bpp']:.3f} bpp, {record['psnr']:.2f} dB")


def visual_tiles(codecs: Sequence[Codec], results: dict[str, dict], images: Sequence[Image],
                 quality: float, size: int = 192, count: int = 3) -> list[list[Tile]]:
    """Rows of tiles: original, edgecodec at ``quality``, then each baseline at the
    setting whose bpp on that image is closest to edgecodec's (codecs[0] is edgecodec)."""
    rows = []
    for name, image in pick_images(images, count):
        top, left, side = detail_crop(image, size)

        def crop(x: np.ndarray) -> np.ndarray:
            return x[top:top + side, left:left + side]

        ref, decoded = measure(codecs[0], name, image, quality)
        row = [Tile(name, "original", f"original\n{name} at ({left}, {top})", crop(image)),
               Tile(name, codecs[0].key, _label(codecs[0], quality, ref), crop(decoded))]
        for c in codecs[1:]:
            setting, _ = closest_point(results[c.key], name, ref["bpp"])
            record, decoded = measure(c, name, image, setting)
            row.append(Tile(name, c.key, _label(c, setting, record), crop(decoded)))
        rows.append(row)
    return rows


def crop_files(rows: Sequence[Sequence[Tile]]) -> dict[str, np.ndarray]:
    """File name -> pixels of every tile: ``STEM_CODEC.png``, or ``NAME_CODEC.png`` (full image
    file names) when two images share a stem (a.png, a.jpg), so that no crop overwrites another."""
    names = {t.image for row in rows for t in row}
    by_stem = len({Path(n).stem.casefold() for n in names}) == len(names)
    return {f"{Path(t.image).stem if by_stem else t.image}_{t.codec}.png": t.pixels for row in rows for t in row}


def visual_grid(rows: Sequence[Sequence[Tile]], zoom: int = 2) -> bytes:
    """PNG of the labelled crops, one image per row, pixels enlarged ``zoom`` times (nearest)."""
    dpi, title_in, gap_in = 100, 0.42, 0.04
    side = max(t.pixels.shape[0] for row in rows for t in row)
    cols = max(len(row) for row in rows)
    tile_in = side * zoom / dpi
    width, height = cols * (tile_in + gap_in), len(rows) * (tile_in + title_in)
    fig = _figure(width, height)
    for r, row in enumerate(rows):
        bottom = height - (r + 1) * (tile_in + title_in)
        for c, tile in enumerate(row):
            ax = fig.add_axes((c * (tile_in + gap_in) / width, bottom / height, tile_in / width, tile_in / height))
            ax.imshow(tile.pixels, interpolation="nearest")
            ax.set_title(tile.label, fontsize=9)
            ax.set_axis_off()
    return _png(fig, dpi)
