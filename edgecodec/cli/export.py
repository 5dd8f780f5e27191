"""``edgecodec export onnx``: the float encoder and decoder as ONNX graphs."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..codec.ops.sampling_variants import VARIANTS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export the model for edge runtimes",
                       description="Export the float encoder/decoder (the integer entropy path stays in PyTorch).")
    targets = p.add_subparsers(dest="target", required=True, metavar="TARGET")
    o = targets.add_parser("onnx", help="encoder.onnx and decoder.onnx with dynamic height/width",
                           description="Write encoder.onnx (image, gain -> latent, hyper_latent), decoder.onnx "
                                       "(latent, inverse_gain -> image) and manifest.json into OUT.")
    o.add_argument("--model", default=None, help="checkpoint path or configuration name (default: embedded)")
    o.add_argument("-o", "--out", required=True, help="output folder")
    o.add_argument("--sampling", choices=VARIANTS, default="deform_conv",
                   help="how the deformable sampling exports: deform_conv for ONNX Runtime (default), "
                        "grid_sample for TensorRT without a plugin, plugin for TensorRT with our plugin")
    o.set_defaults(run=run_onnx)

    t = targets.add_parser("trt", help="TensorRT engines, built on this device (needs TensorRT)",
                           description="Build encoder.engine and decoder.engine from the model on this device, "
                                       "cached by (TensorRT version, GPU, model id, precision, input range).")
    t.add_argument("--model", default=None, help="checkpoint (an `edgecodec qat` one for int8) or name")
    t.add_argument("-o", "--out", required=True, help="engine folder (also the cache)")
    t.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp16", help="engine precision")
    t.add_argument("--resolution", action="append", default=None, metavar="WxH",
                   help="camera resolution(s) for the optimization profile (repeatable; default 1920x1080)")
    t.add_argument("--plugin", default=None,
                   help="libedgecodec_trt_plugins.so: use our sampling plugin (default: plugin-free GridSample)")
    t.set_defaults(run=run_trt)


def _resolution(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--resolution {text!r}: expected WIDTHxHEIGHT, e.g. 1920x1080") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"--resolution {text!r}: sides must be positive")
    return w, h


def run_trt(args: argparse.Namespace) -> int:
    from ..export.tensorrt_build import import_tensorrt
    from ..export.trt_engines import build_model_engines
    from ..runtime import load_codec

    trt = import_tensorrt()  # fail before any work when TensorRT is missing
    codec = load_codec(args.model)
    resolutions = [_resolution(r) for r in (args.resolution or ["1920x1080"])]
    paths = build_model_engines(codec.model, codec.model_id.hex(), Path(args.out), args.precision,
                                resolutions, Path(args.plugin) if args.plugin else None)
    print(f"TensorRT {trt.__version__}: " + ", ".join(str(p) for p in paths.values()))
    return 0


def run_onnx(args: argparse.Namespace) -> int:
    from ..export.onnx_export import OPSET, SIGNATURES, export_graphs
    from ..imageio import write_atomic
    from ..runtime import load_codec

    codec = load_codec(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    graphs = export_graphs(codec.model, args.sampling)
    for name, data in graphs.items():
        write_atomic(out / f"{name}.onnx", data)
    manifest = {"model_id": codec.model_id.hex(), "config": codec.model.config.to_dict(),
                "sampling": args.sampling, "opset": OPSET,
                **{name: {"inputs": list(i), "outputs": list(o)} for name, (i, o) in SIGNATURES.items()}}
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2).encode())
    print(f"wrote {', '.join(f'{n}.onnx' for n in graphs)} and manifest.json to {out}")
    return 0
