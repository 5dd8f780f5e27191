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
    o.add_argument("--out", required=True, help="output folder")
    o.add_argument("--sampling", choices=VARIANTS, default="deform_conv",
                   help="how the deformable sampling exports: deform_conv for ONNX Runtime (default), "
                        "grid_sample for TensorRT without a plugin, plugin for TensorRT with our plugin")
    o.set_defaults(run=run_onnx)


def run_onnx(args: argparse.Namespace) -> int:
    from ..backends import load_backend
    from ..export.onnx_export import OPSET, export_graphs
    from ..imageio import write_atomic

    backend = load_backend(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    graphs = export_graphs(backend.model, args.sampling)
    for name, data in graphs.items():
        write_atomic(out / f"{name}.onnx", data)
    manifest = {"model_id": backend.model_id.hex(), "config": backend.model.config.to_dict(),
                "sampling": args.sampling, "opset": OPSET,
                "encoder": {"inputs": ["image", "gain"], "outputs": ["latent", "hyper_latent"]},
                "decoder": {"inputs": ["latent", "inverse_gain"], "outputs": ["image"]}}
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2).encode())
    print(f"wrote {', '.join(f'{n}.onnx' for n in graphs)} and manifest.json to {out}")
    return 0
