"""Runtime backends for the float transforms (the integer path is shared by all).

- ``load_codec``: a model (and its conditional model) with its float transforms on a named runtime.
- ``ort``: ONNX Runtime sessions over ONNX files cached per model id.
- ``trt``: TensorRT engines built on the device, run with pycuda.

``BACKENDS`` is the one list of names: the command line's choices, the configurations' allowed
values and the loader's dispatch all come from it (importing it loads no runtime)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from ..codec.facade import Codec

Backend = Literal["torch", "onnxruntime", "tensorrt"]
BACKENDS: tuple[str, ...] = get_args(Backend)
ENGINE_BACKENDS = ("tensorrt",)  # need a folder of engines built on the device (`edgecodec export trt`)


def load_codec(model_spec: str | None, name: str = "torch", engine_dir: str | None = None,
               plugin_library: Path | None = None) -> Codec:
    """Load the model (and its conditional model for delta frames) and wrap its float transforms
    for the named runtime."""
    from ..checkpoint import load_models
    from ..codec.facade import Codec

    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r} (choose {', '.join(BACKENDS)})")
    if name == "tensorrt" and not engine_dir:
        raise ValueError("the tensorrt backend needs --engines DIR (built by `edgecodec export trt`)")
    model, conditional = load_models(model_spec)
    codec = Codec(model, conditional=conditional)
    if name == "onnxruntime":
        from .ort import onnx_transforms

        codec.encoder, codec.decoder = onnx_transforms(model, codec.model_id)
    elif name == "tensorrt":
        from .trt import engine_transforms

        codec.encoder, codec.decoder = engine_transforms(Path(engine_dir), plugin_library)
    return codec
