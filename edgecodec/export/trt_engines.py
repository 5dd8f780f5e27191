"""Engines for a model: export the graphs, convert precision, build (or reuse) cached engines."""
from __future__ import annotations

import os
from pathlib import Path

from ..codec.models.dkic import DKIC
from ..imageio import write_atomic
from .onnx_export import export_graphs
from .tensorrt_build import ShapeRange, build_engine, cache_key, import_tensorrt, to_fp16


def compute_capability() -> tuple[int, int]:
    """Compute capability of the current CUDA device (through PyTorch, else pycuda)."""
    try:
        import torch  # noqa: PLC0415

        if torch.cuda.is_available():
            return torch.cuda.get_device_capability()
    except ImportError:
        pass
    import pycuda.autoinit  # noqa: F401,PLC0415
    import pycuda.driver as cuda  # noqa: PLC0415

    return cuda.Device(0).compute_capability()


def build_model_engines(model: DKIC, model_id: str, out: Path, precision: str, resolutions: list[tuple[int, int]],
                        plugin_library: Path | None = None) -> dict[str, Path]:
    """encoder.engine / decoder.engine links in ``out`` pointing at cached engines (built if missing)."""
    if precision == "int8" and not model.config.int8:
        raise ValueError("int8 engines need a quantisation-aware checkpoint: run `edgecodec qat` first")
    trt = import_tensorrt()
    graphs = export_graphs(model, "plugin" if plugin_library else "grid_sample")
    shapes = ShapeRange.for_resolutions(resolutions)
    latent = model.config.latent
    specs = {
        "encoder": ("image", 3, shapes, {"gain": (1, latent, 1, 1)}),
        "decoder": ("latent", latent, shapes.scaled(16), {"inverse_gain": (1, latent, 1, 1)}),
    }
    cc = compute_capability()
    out.mkdir(parents=True, exist_ok=True)
    links = {}
    for name, (inp, channels, rng, extra) in specs.items():
        onnx_bytes = graphs[name] if precision == "fp32" else to_fp16(graphs[name])
        target = out / cache_key(trt.__version__, cc, model_id, name, precision, rng, onnx_bytes)
        if not target.exists():
            engine = build_engine(onnx_bytes, inp, channels, rng, extra, plugin_library, out / "timing.cache")
            write_atomic(target, engine)
        link = out / f"{name}.engine"
        tmp = out / f".{name}.engine.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(target.name, tmp)
        os.replace(tmp, link)
        links[name] = link
    return links
