"""Runtime backends for the float transforms (the integer path is shared by all)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from .checkpoint import load_model
from .codec.codec import model_id
from .codec.models.dkic import DKIC, Transform


@dataclass
class Backend:
    """A loaded model plus the float encoder/decoder callables of one runtime (None: PyTorch)."""

    model: DKIC
    model_id: bytes
    encoder: Transform | None = None
    decoder: Transform | None = None


def load_backend(model_spec: str | None, name: str = "torch", engine_dir: str | None = None,
                 plugin_library: Path | None = None) -> Backend:
    """Load the model and wrap its float transforms for the named runtime."""
    model = load_model(model_spec)
    backend = Backend(model, model_id(model))
    if name == "torch":
        return backend
    if name == "onnxruntime":
        from .runtime_onnx import onnx_transforms

        backend.encoder, backend.decoder = onnx_transforms(model, backend.model_id)
        return backend
    if name == "tensorrt":
        from .runtime_trt import engine_transforms

        if not engine_dir:
            raise ValueError("the tensorrt backend needs --engines DIR (built by `edgecodec export trt`)")
        backend.encoder, backend.decoder = engine_transforms(Path(engine_dir), plugin_library)
        return backend
    raise ValueError(f"unknown backend {name!r} (choose torch, onnxruntime or tensorrt)")
