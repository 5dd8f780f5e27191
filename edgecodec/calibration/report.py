"""The calibration report: one self-contained HTML file (SVG charts, crops as PNG data URIs)."""
from __future__ import annotations

import base64
import html
from typing import Any, Sequence

import numpy as np

from ..evaluation.plots import detail_crop
from ..imageio import encode_png
from .svgplot import Line, line_chart

CROP = 192
STYLE = """body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f4f4f4}.warn{background:#fdd;padding:.6em;border:1px solid #c00}.chosen{background:#dfd}
figure{display:inline-block;margin:4px;text-align:center}img{image-rendering:pixelated;width:%dpx}""" % (CROP * 5 // 3)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() or abs(value) >= 1000 else f"{value:.{digits}f}"
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], highlight: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(f"<tr{' class=chosen' if i == highlight else ''}>" + "".join(f"<td>{_fmt(v, 3)}</td>" for v in row)
                   + "</tr>" for i, row in enumerate(rows))
    return f"<table><tr>{head}</tr>{body}</table>"


def _line(label: str, points: list[dict]) -> Line:
    return Line(label, [p["bpp"] for p in points], [p["psnr"] for p in points])


def _summary(r: dict) -> str:
    rate, model = r["rate"], r["model"]
    warn = "" if rate["fits"] else (
        f"<p class=warn>Budget NOT met: even quality {rate['quality']:g} needs {rate['expected_kbps']:.0f} kbit/s "
        f"({rate['budget_kbps']:g} budgeted); at that quality the budget allows about "
        f"{rate['max_fps_at_lowest_quality']:.2f} frames/s.</p>")
    return (f"{warn}<p>Source <code>{html.escape(r['source']['spec'])}</code> ({r['source']['kind']}), "
            f"{r['frames']['count']} frames of {r['frames']['width']}x{r['frames']['height']}: "
            f"{len(r['frames']['calibration'])} calibrate, {len(r['frames']['held_out'])} held out. "
            f"Model {html.escape(model['config'])}, id <code>{model['id']}</code>.</p>"
            f"<p><b>Chosen quality {rate['quality']:g}</b> at {rate['fps']:g} frames/s: expected "
            f"{rate['expected_kbps']:.1f} kbit/s ({html.escape(rate['statistic'])}; measured at the chosen "
            f"quality: {rate['measured_kbps']:.1f}), budget {rate['budget_kbps']:g} kbit/s. "
            f"{_policy(rate)}.</p>")


def _policy(rate: dict) -> str:
    if rate["intra"]:
        return "Every frame a key frame (--intra)"
    every = f"every {rate['key_interval_s']:g} s" if rate["key_interval_s"] else "only at the start"
    return (f"Stream: a key frame {every} and on scene changes (share {rate['scene_change']:g}), delta frames "
            f"between in chains of at most {rate['chain']}; measured on {rate['clip']['frames']} consecutive frames "
            f"at {rate['fps']:g} frames/s")


def _rd_section(r: dict) -> str:
    site = r["site_rd"]
    chart = line_chart([_line("edgecodec (shipped encoder)", site["edgecodec"]), _line("JPEG (OpenCV)", site["jpeg"])],
                       "bits per pixel (real bytes)", "PSNR RGB (dB)", "Held-out site frames")
    adaptation = r["adaptation"]
    if adaptation["enabled"]:
        variants = [_line("unadapted float encoder", adaptation["unadapted"]),
                    _line("adapted float encoder", adaptation["adapted"])]
    else:
        variants = [_line("float encoder", r["int8"]["float"])]
    variants.append(_line(f"int8 of the shipped encoder ({r['int8']['method']})", r["int8"]["int8"]))
    chart2 = line_chart(variants, "bits per pixel (real bytes)", "PSNR RGB (dB)", "Encoder variants, one decoder")
    return (f"<h2>Rate-distortion on the site</h2>{chart}"
            f"<p>BD-rate of edgecodec against JPEG: {_fmt(site['bd_rate_vs_jpeg_pct'], 1)} % "
            f"(negative: fewer bits at equal PSNR).</p>{chart2}")


def _rate_section(r: dict) -> str:
    rate, p = r["rate"], f"p{r['rate']['percentile']:g} {r['rate']['window_s']:g}-s window"
    rows = [(row["quality"], row["key_frames"], row["delta_frames"], row["mean_bytes"], row["mean_kbps"],
             row["window_kbps"], row["required_kbps"], row["psnr"]) for row in rate["table"]]
    chosen = max((i for i, row in enumerate(rate["table"]) if row["quality"] <= rate["quality"]), default=None)
    intra = [(row["quality"], row["mean_bytes"], row["mean_kbps"], row["window_kbps"]) for row in rate["intra_table"]]
    return ("<h2>Rate table (the stream, consecutive frames)</h2>"
            + _table(["quality", "key frames", "delta frames", "mean bytes/frame", "mean kbit/s", f"{p} kbit/s",
                      "required kbit/s", "PSNR"], rows, chosen)
            + f"<p>Intra reference ({html.escape(rate['intra_table_frames'])}):</p>"
            + _table(["quality", "mean bytes/frame", "mean kbit/s", f"{p} kbit/s"], intra))


def _stream_section(r: dict) -> str:
    rate, x264 = r["rate"], r["x264"]
    lines = [Line("edgecodec stream", [row["mean_kbps"] for row in rate["table"]],
                  [row["psnr"] for row in rate["table"]])]
    if x264["available"]:
        lines.append(Line(x264["label"], [p["kbit_s"] for p in x264["points"]], [p["psnr"] for p in x264["points"]]))
        crfs = ", ".join(f"{p['setting']:g}" for p in x264["points"])
        note = f"x264: {html.escape(x264['description'])}, CRF {crfs} ({html.escape(x264['version'])})."
    else:
        note = f"<span class=warn>x264 not measured: {html.escape(x264['reason'])}</span>"
    chart = line_chart(lines, "kbit/s (mean over the stream)", "PSNR RGB (dB)",
                       f"The site's stream, {rate['clip']['frames']} frames at {rate['fps']:g} frames/s")
    return f"<h2>The site's stream against x264</h2>{chart}<p>{note}</p>"


def _int8_section(r: dict) -> str:
    q = r["int8"]
    rows = [(f["setting"], f["bpp"], f["psnr"], i["bpp"], i["psnr"])
            for f, i in zip(q["float"], q["int8"], strict=True)]
    snr = ", ".join(f"{m}: {_fmt(v, 1)} dB" for m, v in q["latent_snr_db"].items())
    return (f"<h2>int8 encoder</h2><p>{q['points']} activation tensors calibrated; scales by the "
            f"<b>{q['method']}</b> method in encoder-int8.pt / encoder-int8.onnx (explicit Q/DQ). "
            f"Latent SNR against the float encoder on held-out frames: {snr}. ONNX Runtime against PyTorch: "
            f"largest latent difference {_fmt(q['onnx_relative_error'], 4)} of the latent's range. "
            f"BD-rate int8 vs float: <b>{_fmt(q['bd_rate_vs_float_pct'], 2)} %</b>.</p>"
            + _table(["quality", "float bpp", "float PSNR", "int8 bpp", "int8 PSNR"], rows))


def _adapt_section(r: dict) -> str:
    a = r["adaptation"]
    if not a["enabled"]:
        return "<h2>Encoder adaptation</h2><p>Not run (use --adapt).</p>"
    verdict = ("shipped as encoder-adapted.pt (device.toml points at it)" if a["shipped"]
               else "not shipped: it did not lower the rate at equal quality; the original encoder stays")
    return (f"<h2>Encoder adaptation</h2><p>{a['options']['steps']} steps on {', '.join(a['trained'])} "
            f"(loss {a['first_loss']:.3f} -> {a['last_loss']:.3f}); decoder side bit-identical, model id unchanged. "
            f"BD-rate against the unadapted encoder on held-out frames: "
            f"<b>{_fmt(a['bd_rate_vs_unadapted_pct'], 2)} %</b> -- {verdict}.</p>")


def _downstream_section(r: dict) -> str:
    d = r["downstream"]
    rows = [(name, d[key]["bpp"], d[key]["psnr"], d[key]["reference"], d[key]["detections"], d[key]["matched"],
             d[key]["precision"], d[key]["recall"]) for name, key in (("edgecodec", "edgecodec"), ("JPEG", "jpeg"))]
    return (f"<h2>Downstream: people detection</h2><p>{html.escape(d['detector'])}, parameters "
            f"<code>{html.escape(str(d['params']))}</code>; detections on the originals are the reference, "
            f"matched {html.escape(d['matching'])}. edgecodec at quality {d['quality']:g}; JPEG per frame at the "
            f"quality whose size is closest to edgecodec's.</p>"
            + _table(["codec", "bpp", "PSNR", "reference boxes", "boxes", "matched", "precision", "recall"], rows))


def _png_uri(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode()


def _crops(samples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> str:
    picks = sorted({0, len(samples) // 2}) if samples else []
    parts = ["<h2>Sample crops (held-out, equal size)</h2>"]
    for i in picks:
        original, ours, jpeg = samples[i]
        top, left, side = detail_crop(original, CROP)
        for label, image in (("original", original), ("edgecodec", ours), ("JPEG, same bytes", jpeg)):
            parts.append(f"<figure><img src='{_png_uri(image[top:top + side, left:left + side])}'>"
                         f"<figcaption>{label}</figcaption></figure>")
        parts.append("<br>")
    return "".join(parts)


def render(result: dict, samples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> str:
    """The whole report from calibration.json's content and held-out (original, edgecodec, JPEG) frames."""
    body = "".join([_summary(result), _stream_section(result), _rd_section(result), _rate_section(result),
                    _int8_section(result), _adapt_section(result), _downstream_section(result), _crops(samples)])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>edgecodec calibration</title>"
            f"<style>{STYLE}</style></head><body><h1>edgecodec on-site calibration</h1>"
            f"<p>{html.escape(result['started'])} .. {html.escape(result['finished'])}, "
            f"{result['wall_seconds']:.0f} s</p>{body}</body></html>")
