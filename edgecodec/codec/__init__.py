"""The codec: images and frames <-> .ecb bytes, with no file, network or camera I/O.

    Codec, Reference, model_id, ...       one model's key and delta frames            (facade.py)
    StreamEncoder, StreamDecoder, ...     streams from a fixed camera                 (stream.py)
    Header, pack, unpack, read_header...  the .ecb container: the wire format         (bitstream.py)
    CodecConfig, REGISTRY, get_config     named model configurations                  (models/config.py)

Names load on first use: the daemon and the server parse the wire format
(``edgecodec.codec.bitstream``, standard library only) without importing torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOME = {  # module -> its public names
    "facade": ("Codec", "Reference", "Analysed", "DeltaResult", "ModelMismatchError", "ReferenceError", "model_id",
               "ENCODER_ONLY", "image_to_tensor", "tensor_to_image", "latent_shape"),
    "stream": ("StreamEncoder", "StreamDecoder", "StreamPolicy", "EncodedFrame"),
    "bitstream": ("Header", "Frame", "pack", "unpack", "read_header", "pack_stream", "unpack_stream", "KEY", "DELTA",
                  "DEFAULT_MAX_PIXELS", "BitstreamError", "ImageTooLarge"),
    "models.config": ("CodecConfig", "REGISTRY", "get_config", "register", "quality_to_level"),
}
_MODULE_OF = {name: module for module, names in _HOME.items() for name in names}

__all__ = [name for names in _HOME.values() for name in names]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .bitstream import (DEFAULT_MAX_PIXELS, DELTA, KEY, BitstreamError, Frame, Header, ImageTooLarge, pack,
                            pack_stream, read_header, unpack, unpack_stream)
    from .facade import (ENCODER_ONLY, Analysed, Codec, DeltaResult, ModelMismatchError, Reference, ReferenceError,
                         image_to_tensor, latent_shape, model_id, tensor_to_image)
    from .models.config import REGISTRY, CodecConfig, get_config, quality_to_level, register
    from .stream import EncodedFrame, StreamDecoder, StreamEncoder, StreamPolicy
