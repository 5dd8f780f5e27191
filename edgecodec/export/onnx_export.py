"""Export the float analysis and synthesis transforms to ONNX (dynamic height and width).

The integer entropy-parameter path is not exported: it runs as the same
PyTorch integer code on every backend, which keeps decoding bit-exact.
"""
from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from ..codec.models.dkic import DKIC

OPSET = 19


def _export(module: nn.Module, example: torch.Tensor, inp: str, out: str) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buf, input_names=[inp], output_names=[out], opset_version=OPSET,
                          dynamic_axes={inp: {2: "height", 3: "width"}, out: {2: "out_height", 3: "out_width"}},
                          dynamo=False)
    return buf.getvalue()


def export_transforms(model: DKIC) -> dict[str, bytes]:
    """ONNX bytes of ``{"analysis": image -> latent, "synthesis": latent -> image}``."""
    model = model.eval()
    with torch.no_grad():
        image = torch.rand(1, 3, 128, 192)
        latent = model.analysis(image)
        return {
            "analysis": _export(model.analysis, image, "image", "latent"),
            "synthesis": _export(model.synthesis, latent, "latent", "image"),
        }
