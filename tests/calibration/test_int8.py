"""Activation-range calibration of the encoder: every int8 point observed, scales set, model id kept."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from edgecodec.calibration import int8
from edgecodec import codec
from edgecodec.codec.layers.fake_quant import FakeQuantAct
from edgecodec.imageio import read_image
from edgecodec.quality import psnr_u8

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def images():
    image = read_image(GOLDEN / "image.png")
    return [image, np.ascontiguousarray(image[::-1, ::-1])]


@pytest.fixture(scope="module")
def histograms(model, images):
    return int8.collect_histograms(model, images)


def test_every_fake_quantised_point_is_observed(model, histograms, images):
    quantised = int8.build_int8(model, int8.choose_scales(histograms, "percentile"))
    acts = {n for n, m in quantised.named_modules() if isinstance(m, FakeQuantAct)}
    assert set(histograms) == acts
    assert any(n.endswith("sampling_quant.1") for n in acts)
    assert all(n.startswith("analysis.") for n in acts)  # the plan: the hyper-analysis stays float
    assert histograms["analysis.0.act"].amax == pytest.approx(images[0].max() / 255)  # the image itself
    assert all(h.counts.sum() > 0 for h in histograms.values())


@pytest.mark.parametrize("method", ["percentile", "entropy"])
def test_calibrated_int8_encoder_keeps_the_decoder_and_model_id(model, histograms, images, method):
    scales = int8.choose_scales(histograms, method)
    quantised = int8.build_int8(model, scales)
    assert quantised.analysis[2].act.scale.item() == pytest.approx(scales["analysis.2.act"])
    assert scales["analysis.0.act"] == pytest.approx(1 / 127)  # the image's known range, not calibrated
    assert all(s > 0 for s in scales.values())
    assert codec.model_id(quantised) == codec.model_id(model)
    for key, value in model.state_dict().items():
        if not key.startswith(codec.ENCODER_ONLY):
            assert torch.equal(value, quantised.state_dict()[key]), key
    decoded = codec.Codec(model).decode(codec.Codec(quantised).encode(images[0], 80))  # the server's float model reads it
    assert decoded.shape == images[0].shape


def test_percentile_int8_costs_little_quality(model, histograms, images):
    quantised = int8.build_int8(model, int8.choose_scales(histograms, "percentile"))
    decoded = codec.Codec(model).decode(codec.Codec(quantised).encode(images[0], 80))
    reference = codec.Codec(model).decode(codec.Codec(model).encode(images[0], 80))
    assert psnr_u8(images[0], decoded) > psnr_u8(images[0], reference) - 1.0


def test_int8_onnx_has_explicit_qdq_and_matches_pytorch(model, histograms, images):
    quantised = int8.build_int8(model, int8.choose_scales(histograms, "percentile"))
    graph = int8.encoder_onnx(quantised)
    kinds = [n.op_type for n in onnx.load_from_string(graph).graph.node]
    analysis_convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.analysis.modules())
    assert kinds.count("QuantizeLinear") >= analysis_convs > 0 and "GridSample" in kinds
    assert int8.onnx_agreement(quantised, graph, images[1], 2.5) < 0.05
    assert int8.latent_snr(model, quantised, images[1:]) > 20


def test_an_int8_model_cannot_be_calibrated_again(model, histograms):
    quantised = int8.build_int8(model, int8.choose_scales(histograms, "percentile"))
    with pytest.raises(ValueError, match="already quantised"):
        int8.build_int8(quantised, {})
