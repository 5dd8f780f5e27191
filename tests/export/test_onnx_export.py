"""ONNX export of the float encoder/decoder, per sampling variant, against PyTorch."""
from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgecodec.checkpoint import from_checkpoint
from edgecodec.codec.ops.sampling_variants import PLUGIN_DOMAIN, PLUGIN_OP
from edgecodec.export.onnx_export import export_graphs

GOLDEN_MODEL = Path(__file__).resolve().parents[1] / "golden" / "dkic-tiny.pt"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    return from_checkpoint(GOLDEN_MODEL)


def ops(data: bytes) -> collections.Counter:
    return collections.Counter((n.domain, n.op_type) for n in onnx.load_from_string(data).graph.node)


def run(data: bytes, **feed) -> list[np.ndarray]:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.numpy() for k, v in feed.items()})


@pytest.mark.parametrize("variant,op", [("grid_sample", "GridSample"), ("deform_conv", "DeformConv")])
def test_onnxruntime_matches_pytorch_at_another_size(model, variant, op):
    graphs = export_graphs(model, variant)
    assert ops(graphs["encoder"])[("", op)] > 0 and ops(graphs["decoder"])[("", op)] > 0
    x = torch.rand(1, 3, 192, 128)  # exported at 128x192: dynamic height and width
    gain, inverse = model.gain(torch.tensor([2.0]))
    with torch.no_grad():
        y, z = model.encoder_transform(x, gain)
        x_hat = model.decoder_transform(y, inverse)
    y_o, z_o = run(graphs["encoder"], image=x, gain=gain.detach())
    (x_o,) = run(graphs["decoder"], latent=y, inverse_gain=inverse.detach())
    for got, ref in ((y_o, y), (z_o, z), (x_o, x_hat)):
        assert got.shape == tuple(ref.shape)
        np.testing.assert_allclose(got, ref.numpy(), atol=2e-4 * float(ref.abs().max()), rtol=0)


def test_plugin_variant_emits_the_custom_op(model):
    graphs = export_graphs(model, "plugin")
    proto = onnx.load_from_string(graphs["encoder"])
    nodes = [n for n in proto.graph.node if n.op_type == PLUGIN_OP]
    assert nodes and all(n.domain == PLUGIN_DOMAIN for n in nodes)
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attrs["groups"] == model.config.groups and attrs["kernel_size"] == 3
    assert attrs["plugin_namespace"] == PLUGIN_DOMAIN.encode()
    assert not any(n.op_type in ("GridSample", "DeformConv") for n in proto.graph.node)


def test_our_domain_is_declared_where_used_and_nothing_is_printed(model, capfd):
    for variant in ("grid_sample", "deform_conv", "plugin"):
        capfd.readouterr()
        graphs = export_graphs(model, variant)
        assert capfd.readouterr().err == "", variant  # torch warns on stderr of a declared domain no node uses
        for data in graphs.values():
            domains = {o.domain: o.version for o in onnx.load_from_string(data).opset_import}
            assert domains == ({"": 19, PLUGIN_DOMAIN: 1} if variant == "plugin" else {"": 19})
