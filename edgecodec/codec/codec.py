"""Image <-> .ecb bytes with a DKIC model (pure: no file, network or camera I/O).

An image of any size is padded (edge replication) to a multiple of 64, coded,
and cropped back on decode. Encoder and decoder may use different float
transforms (``encoder`` / ``decoder``, e.g. ONNX Runtime or TensorRT); the
entropy-parameter path is always the model's integer networks.
"""
from __future__ import annotations

import hashlib
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import bitstream
from .models.config import quality_to_level
from .models.dkic import DKIC, PAD_MULTIPLE, Transform


class ModelMismatchError(ValueError):
    """The bitstream was produced by a different model than the one loaded."""


ENCODER_ONLY = ("analysis.", "hyper_analysis.", "gain.log_gain")


def model_id(model: DKIC) -> bytes:
    """16-byte content hash of everything the decoder uses (config and decoder-side state).

    Encoder-only weights (analysis, hyper-analysis, forward gains) are left out: any
    encoder, e.g. one adapted on site or quantised for a Jetson, writes files that the
    server's model decodes, and they carry the same id.
    """
    config = {k: v for k, v in model.config.to_dict().items() if k != "extra"}  # extra: how it was trained
    h = hashlib.sha256(repr(sorted(config.items())).encode())
    for name, t in sorted(model.state_dict().items()):
        if name.startswith(ENCODER_ONLY):
            continue
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.digest()[:16]


def image_to_tensor(image: np.ndarray) -> Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H', W') in [0, 1], padded to a multiple of 64."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    ph, pw = -h % PAD_MULTIPLE, -w % PAD_MULTIPLE
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def tensor_to_image(x: Tensor, height: int, width: int) -> np.ndarray:
    """float (1, 3, H', W') in [0, 1] -> cropped uint8 (height, width, 3)."""
    x = x[0, :, :height, :width].clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.permute(1, 2, 0).contiguous().cpu().numpy()


def encode(model: DKIC, image: np.ndarray, quality: float, encoder: Transform | None = None,
           mid: bytes | None = None) -> bytes:
    """Encode an RGB uint8 image to .ecb bytes."""
    quality_to_level(quality, model.config.quality_levels)  # validates the range
    quality = round(float(quality), 2)
    level = quality_to_level(quality, model.config.quality_levels)
    x = image_to_tensor(image)
    z, y, _ = model.compress(x, level, encoder)
    header = bitstream.Header(width=image.shape[1], height=image.shape[0], quality=quality,
                              model_id=mid or model_id(model))
    return bitstream.pack(header, z, y)


def decode(model: DKIC, data: bytes, decoder: Transform | None = None, mid: bytes | None = None,
           max_pixels: int = bitstream.DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode .ecb bytes to an RGB uint8 image; raises ValueError on any invalid input."""
    header, z, y = bitstream.unpack(data, max_pixels)
    expected = mid or model_id(model)
    if header.model_id != expected:
        raise ModelMismatchError(f"the file was encoded with model {header.model_id.hex()}, "
                                 f"but model {expected.hex()} is loaded")
    y_hat = model.decode_latent(z, y, latent_shape(header.height, header.width))
    level = quality_to_level(header.quality, model.config.quality_levels)
    return tensor_to_image(model.reconstruct(y_hat, level, decoder), header.height, header.width)


def latent_shape(height: int, width: int) -> tuple[int, int]:
    """Spatial shape of z for an image of this size."""
    return -(-height // PAD_MULTIPLE), -(-width // PAD_MULTIPLE)
