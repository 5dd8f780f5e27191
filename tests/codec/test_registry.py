"""Every registered configuration trains, codes real bytes and exports (timm-style registry tests)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from edgecodec.checkpoint import init_model
from edgecodec import codec
from edgecodec.codec.models.config import REGISTRY, get_config
from edgecodec.codec.models.dkic import DKIC
from edgecodec.export.onnx_export import export_graphs

pytestmark = pytest.mark.usefixtures("one_thread")
NAMES = sorted(REGISTRY)


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward(name):
    torch.manual_seed(0)
    model = DKIC(get_config(name)).train()
    x = torch.rand(2, 3, 64, 64)
    out = model(x, torch.tensor([0.0, model.config.quality_levels - 1.0]))
    assert out["x_hat"].shape == x.shape
    loss = out["x_hat"].sub(x).pow(2).mean() - out["y_likelihood"].log2().mean() - out["z_likelihood"].log2().mean()
    loss.backward()
    grads = [p.grad for p in model.analysis.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", NAMES)
def test_real_bytes_round_trip(name):
    model = init_model(get_config(name))
    image = (np.random.default_rng(1).random((40, 70, 3)) * 255).astype(np.uint8)
    data = codec.Codec(model).encode(image, 60.0)
    assert codec.Codec(model).decode(data).shape == image.shape


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_exports(name):
    graphs = export_graphs(DKIC(get_config(name)).eval(), "deform_conv")
    for data in graphs.values():
        onnx.checker.check_model(onnx.load_from_string(data))
