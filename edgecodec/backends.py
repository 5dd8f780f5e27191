"""Runtime backends for the float transforms (the integer path is shared by all)."""
from __future__ import annotations

from pathlib import Path

from .checkpoint import load_conditional, load_model
from .codec.codec import Codec

BACKENDS = ("torch", "onnxruntime", "tensorrt")


def load_codec(model_spec: str | None, name: str = "torch", engine_dir: str | None = None,
               plugin_library: Path | None = None) -> Codec:
    """Load the model (and its conditional model for delta frames) and wrap its float transforms
    for the named runtime."""
    model = load_model(model_spec)
    conditional = load_conditional(model_spec, model)
    if name == "torch":
        return Codec(model, conditional=conditional)
    if name == "onnxruntime":
        from .runtime_onnx import onnx_transforms

        from .codec.codec import model_id

        encoder, decoder = onnx_transforms(model, model_id(model))
        return Codec(model, encoder, decoder, conditional)
    if name == "tensorrt":
        from .runtime_trt import engine_transforms

        if not engine_dir:
            raise ValueError("the tensorrt backend needs --engines DIR (built by `edgecodec export trt`)")
        encoder, decoder = engine_transforms(Path(engine_dir), plugin_library)
        return Codec(model, encoder, decoder, conditional)
    raise ValueError(f"unknown backend {name!r} (choose {', '.join(BACKENDS)})")
