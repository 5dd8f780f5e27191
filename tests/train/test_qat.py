"""Quantisation-aware training: explicit Q/DQ export, and an int8 encoder the float decoder reads."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from edgecodec.checkpoint import from_checkpoint
from edgecodec.codec import codec
from edgecodec.export.onnx_export import export_graphs
from edgecodec.imageio import read_image
from edgecodec.metrics import psnr_u8
from edgecodec.train.loop import TrainOptions, train

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "golden"


pytestmark = pytest.mark.usefixtures("one_thread")


def qat(out: Path, parts: str):
    opts = TrainOptions(data=str(ROOT / "data"), out=str(out), steps=3, batch=2, crop=64, lr=1e-5,
                        checkpoint_every=100, init=str(GOLDEN / "dkic-tiny.pt"), qat=parts)
    return from_checkpoint(train(opts))


def test_int8_encoder_keeps_the_decoder_and_its_model_id(tmp_path):
    float_model = from_checkpoint(GOLDEN / "dkic-tiny.pt")
    int8 = qat(tmp_path / "enc", "encoder")
    assert codec.model_id(int8) == codec.model_id(float_model)
    for key, value in float_model.state_dict().items():
        if not key.startswith(codec.ENCODER_ONLY):
            assert torch.equal(value, int8.state_dict()[key]), key
    image = read_image(GOLDEN / "image.png")
    data = codec.encode(int8, image, 80)
    ref = codec.decode(float_model, codec.encode(float_model, image, 80))
    assert psnr_u8(image, codec.decode(float_model, data)) > psnr_u8(image, ref) - 1.0


def test_int8_graphs_carry_explicit_qdq(tmp_path):
    model = qat(tmp_path / "all", "all")
    graphs = export_graphs(model, "grid_sample")
    for name in ("encoder", "decoder"):
        kinds = [n.op_type for n in onnx.load_from_string(graphs[name]).graph.node]
        convs = kinds.count("Conv")
        assert kinds.count("QuantizeLinear") >= convs > 0, name  # every conv input and weight quantised
        assert kinds.count("DequantizeLinear") == kinds.count("QuantizeLinear")
    # the fake-quantised weights are representable in int8: per output channel, integer multiples of a scale
    w = model.synthesis[-1][0].weight.detach()
    scale = w.abs().amax(dim=(1, 2, 3), keepdim=True) / 127
    from edgecodec.codec.layers.fake_quant import fake_quant_weight

    q = (fake_quant_weight(w) / scale).numpy()
    assert np.allclose(q, np.round(q), atol=1e-3) and np.abs(q).max() <= 127.001
