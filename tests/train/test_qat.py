"""Quantisation-aware training: explicit Q/DQ export, and an int8 encoder the float decoder reads."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from edgecodec.checkpoint import from_checkpoint
from edgecodec import codec
from edgecodec.export.onnx_export import export_graphs
from edgecodec.imageio import read_image
from edgecodec.quality import psnr_u8
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
    data = codec.Codec(int8).encode(image, 80)
    ref = codec.Codec(float_model).decode(codec.Codec(float_model).encode(image, 80))
    assert psnr_u8(image, codec.Codec(float_model).decode(data)) > psnr_u8(image, ref) - 1.0


def test_int8_graphs_carry_explicit_qdq_with_int8_weights(tmp_path):
    model = qat(tmp_path / "all", "all")
    graphs = export_graphs(model, "grid_sample")
    float_graphs = export_graphs(from_checkpoint(GOLDEN / "dkic-tiny.pt"), "grid_sample")
    float_convs = {"encoder": sum(isinstance(m, torch.nn.Conv2d) for m in model.hyper_analysis.modules()),
                   "decoder": len(model.config.int8_keep_float)}
    assert float_convs["decoder"] == 2
    for name in ("encoder", "decoder"):
        proto = onnx.load_from_string(graphs[name])
        kinds = [n.op_type for n in proto.graph.node]
        int8_weights = [i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 4]
        # every conv weight of the int8 plan stored as int8, the plan's float convs as float
        assert len(int8_weights) == kinds.count("Conv") - float_convs[name] > 0, name
        assert kinds.count("QuantizeLinear") >= len(int8_weights)  # and every int8 conv's input quantised
        assert kinds.count("DequantizeLinear") == kinds.count("QuantizeLinear") + len(int8_weights)
        float_weights = {tuple(i.dims): len(i.raw_data) for i in onnx.load_from_string(float_graphs[name]).graph.initializer
                         if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) == 4}
        assert all(float_weights[tuple(i.dims)] == 4 * len(i.raw_data) for i in int8_weights)  # 4x smaller
    # what the graph stores is what the fake-quantised model computed with
    conv = model.synthesis[-3][0]
    stored = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load_from_string(graphs["decoder"]).graph.initializer}
    q = np.rint(conv.weight.detach().numpy() / conv.w_scale.numpy().reshape(-1, 1, 1, 1))
    assert any(a.shape == q.shape and np.array_equal(a, q.astype(np.int8)) for a in stored.values())


def test_qat_learns_the_activation_steps_and_drop_int8_restores_the_float_model(tmp_path, cli):
    opts = TrainOptions(data=str(ROOT / "data"), out=str(tmp_path / "q"), steps=4, batch=2, crop=64, lr=1e-3,
                        checkpoint_every=100, init=str(GOLDEN / "dkic-tiny.pt"), qat="all")
    path = train(opts)
    state = torch.load(path, weights_only=True)["model"]
    steps = {k: v for k, v in state.items() if k.endswith(".act.scale") or ".sampling_quant." in k}
    assert steps and all(v > 0 for v in steps.values())
    opts.out, opts.steps = str(tmp_path / "q1"), 1  # the same run stopped after its first (observing) step
    observed = torch.load(train(opts), weights_only=True)["model"]
    assert any(not torch.equal(v, observed[k]) for k, v in steps.items())  # the steps were trained

    assert cli("package", str(path), "-o", str(tmp_path / "float.pt"), "--drop-int8").rc == 0
    plain = from_checkpoint(tmp_path / "float.pt")
    assert not plain.config.int8 and not plain.config.int8_keep_float
    int8 = from_checkpoint(path)
    for key, value in plain.state_dict().items():  # the same weights (stored as float16)
        if value.is_floating_point() and key in dict(plain.named_parameters()):
            assert torch.allclose(value, int8.state_dict()[key].float(), rtol=1e-3, atol=1e-4), key
