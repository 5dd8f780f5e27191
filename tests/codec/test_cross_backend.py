"""Bit-exact entropy decoding across backends (issue: encode on a Jetson, decode on a server).

The encoder side runs perturbed float transforms (1e-3 relative noise on every
analysis/synthesis weight, standing in for fp16/int8 TensorRT numerics) on one
backend; the decoder runs the unperturbed model on another. Every symbol must
decode exactly and every stream must end exactly where the encoder ended it.
"""
from __future__ import annotations

import copy
import itertools

import pytest
import torch

from edgecodec.backends import Backend
from edgecodec.codec import codec
from edgecodec.codec.models.config import quality_to_level
from edgecodec.imageio import read_image
from edgecodec.runtime_onnx import onnx_paths, session_transform

QUALITIES = (5.0, 50.0, 95.0)


def perturbed(model, rel: float = 1e-3, seed: int = 1):
    """Copy of the model whose float transforms carry relative weight noise."""
    other = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in (other.analysis, other.synthesis, other.hyper_analysis):
            for p in module.parameters():
                p.mul_(1 + rel * torch.randn(p.shape, generator=gen))
    return other


def make_backends(model, mid: bytes, tmp_path, monkeypatch) -> dict[str, Backend]:
    monkeypatch.setenv("EDGECODEC_CACHE", str(tmp_path))
    fp64 = copy.deepcopy(model).double()
    paths = onnx_paths(model, mid)
    return {
        "torch-fp32": Backend(model, mid),
        "torch-fp64": Backend(fp64, mid, encoder=lambda x, g: fp64.encoder_transform(x.double(), g.double()),
                              decoder=lambda y, g: fp64.decoder_transform(y.double(), g.double()).float()),
        "onnxruntime": Backend(model, mid, session_transform(paths["encoder"]), session_transform(paths["decoder"])),
    }


@pytest.mark.slow
def test_symbols_decode_exactly_across_backends(starter_model, test_images, tmp_path, monkeypatch):
    mid = codec.model_id(starter_model)
    encoders = make_backends(perturbed(starter_model), mid, tmp_path / "enc", monkeypatch)
    decoders = make_backends(starter_model, mid, tmp_path / "dec", monkeypatch)
    pairs = [(e, d) for e, d in itertools.product(encoders, decoders) if e != d]
    cases = list(itertools.product(test_images, QUALITIES))
    for n, (path, quality) in enumerate(cases):
        enc_name, dec_name = pairs[n % len(pairs)]
        enc, dec = encoders[enc_name], decoders[dec_name]
        image = read_image(path)
        x = codec.image_to_tensor(image)
        level = quality_to_level(quality, starter_model.config.quality_levels)
        z, y, coded = enc.model.compress(x, level, enc.encoder)
        decoded = dec.model.decode_latent(z, y, codec.latent_shape(*image.shape[:2]))
        assert torch.equal(decoded, coded), f"{path.name} q={quality}: {enc_name} -> {dec_name} desynchronised"
        if n < len(pairs):  # full image decode through the decoder's float backend too
            data = codec.encode(enc.model, image, quality, enc.encoder, mid)
            out = codec.decode(dec.model, data, dec.decoder, mid)
            assert out.shape == image.shape


@pytest.mark.gpu
def test_a_cuda_decoder_reads_cpu_encoded_files_exactly(starter_model, test_images):
    """The integer path on a CUDA GPU (float64 convolutions, int64 gathers) decodes CPU streams exactly."""
    gpu = copy.deepcopy(starter_model).to("cuda")
    encoder = perturbed(starter_model)
    for path in test_images[:6]:
        image = read_image(path)
        for quality in QUALITIES:
            level = quality_to_level(quality, starter_model.config.quality_levels)
            z, y, coded = encoder.compress(codec.image_to_tensor(image), level)
            decoded = gpu.decode_latent(z, y, codec.latent_shape(*image.shape[:2]))
            assert torch.equal(decoded.cpu(), coded), f"{path.name} q={quality}"
