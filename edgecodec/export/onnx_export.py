"""Export the float encoder and decoder to ONNX (dynamic height and width).

    encoder graph:  image (1,3,H,W), gain (1,M,1,1)          -> latent y_g (1,M,H/16,W/16), hyper_latent z
    decoder graph:  latent y^_g (1,M,H/16,W/16), inverse_gain -> image (1,3,H,W)

The integer entropy-parameter path is not exported: it runs as the same
PyTorch integer code on every backend, which keeps decoding bit-exact.
The sampling operator exports through the chosen variant
(``codec/ops/sampling_variants.py``): GridSample, DeformConv or our plugin op.
"""
from __future__ import annotations

import copy
import io
import warnings

import onnx
import torch
from torch import Tensor, nn

from ..codec.models.dkic import DKIC
from ..codec.ops.sampling_variants import PLUGIN_DOMAIN, set_sampling_variant
from .qdq import fold_weight_quantization

OPSET = 19
SIGNATURES = {"encoder": (("image", "gain"), ("latent", "hyper_latent")),  # graph: (inputs, outputs)
              "decoder": (("latent", "inverse_gain"), ("image",))}


class EncoderGraph(nn.Module):
    """(image, gain) -> (latent, hyper_latent)."""

    def __init__(self, model: DKIC):
        super().__init__()
        self.analysis, self.hyper_analysis = model.analysis, model.hyper_analysis

    def forward(self, image: Tensor, gain: Tensor) -> tuple[Tensor, Tensor]:
        y = self.analysis(image) * gain
        return y, self.hyper_analysis(y)


class DecoderGraph(nn.Module):
    """(latent, inverse_gain) -> image."""

    def __init__(self, model: DKIC):
        super().__init__()
        self.synthesis = model.synthesis

    def forward(self, latent: Tensor, inverse_gain: Tensor) -> Tensor:
        return self.synthesis(latent * inverse_gain)


def _export(module: nn.Module, args: tuple, graph: str, axes: dict, custom_opsets: dict[str, int]) -> bytes:
    inputs, outputs = SIGNATURES[graph]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buf, input_names=list(inputs), output_names=list(outputs), opset_version=OPSET,
                          dynamic_axes=axes, custom_opsets=custom_opsets, dynamo=False)
    proto = fold_weight_quantization(onnx.load_from_string(buf.getvalue()))
    return proto.SerializeToString()


def export_graphs(model: DKIC, sampling: str = "grid_sample") -> dict[str, bytes]:
    """ONNX bytes of ``{"encoder": ..., "decoder": ...}`` with the given sampling variant."""
    model = set_sampling_variant(copy.deepcopy(model).float().eval(), sampling)
    m = model.config.latent
    hw = {2: "height", 3: "width"}
    small, tiny = {2: "height_16", 3: "width_16"}, {2: "height_64", 3: "width_64"}
    # our domain only where our op is: declared but unused, torch prints a warning line of its own
    domains = {PLUGIN_DOMAIN: 1} if sampling == "plugin" else {}
    with torch.no_grad():
        image, gain = torch.rand(1, 3, 128, 192), torch.ones(1, m, 1, 1)
        latent, _ = model.encoder_transform(image, gain)
        return {
            "encoder": _export(EncoderGraph(model), (image, gain), "encoder",
                               {"image": hw, "latent": small, "hyper_latent": tiny}, domains),
            "decoder": _export(DecoderGraph(model), (latent, gain), "decoder", {"latent": small, "image": hw}, domains),
        }
