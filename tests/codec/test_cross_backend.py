"""Bit-exact entropy decoding across backends (encode on a Jetson, decode on a server).

The encoder side runs perturbed float transforms (1e-3 relative noise on every
analysis/synthesis weight, standing in for fp16/int8 TensorRT numerics) on one
backend; the decoder runs the unperturbed model on another. Every symbol must
decode exactly and every stream must end exactly where the encoder ended it: for
key frames, and for delta frames with every coding tool (skipped blocks, skipped
positions, coded positions with the conditional network), whose encoder also
decides its skips from its own perturbed reconstruction.
"""
from __future__ import annotations

import copy
import itertools

import pytest
import torch

from edgecodec import codec
from edgecodec.codec.facade import Codec
from edgecodec.imageio import read_image
from edgecodec.runtime.ort import onnx_paths, session_transform

from scene_frames import next_frame

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


def make_codecs(model, floats, conditional, tmp_path, monkeypatch) -> dict[str, Codec]:
    """The integer path of ``model`` with the float transforms of ``floats`` on three runtimes."""
    monkeypatch.setenv("EDGECODEC_CACHE", str(tmp_path))
    fp64 = copy.deepcopy(floats).double()
    paths = onnx_paths(floats, codec.model_id(floats))
    return {
        "torch-fp32": Codec(model, floats.encoder_transform, floats.decoder_transform, conditional),
        "torch-fp64": Codec(model, lambda x, g: fp64.encoder_transform(x.double(), g.double()),
                            lambda y, g: fp64.decoder_transform(y.double(), g.double()).float(), conditional),
        "onnxruntime": Codec(model, session_transform(paths["encoder"]), session_transform(paths["decoder"]),
                             conditional),
    }


def _pairs(starter_model, starter_conditional, tmp_path, monkeypatch):
    encoders = make_codecs(starter_model, perturbed(starter_model), starter_conditional, tmp_path / "enc",
                           monkeypatch)
    decoders = make_codecs(starter_model, starter_model, starter_conditional, tmp_path / "dec", monkeypatch)
    names = [(e, d) for e, d in itertools.product(encoders, decoders) if e != d]
    return encoders, decoders, names


def _same(a, b) -> bool:
    return torch.equal(a.z_hat, b.z_hat) and torch.equal(a.y_hat, b.y_hat)


@pytest.mark.slow
def test_key_frames_decode_exactly_across_backends(starter_model, starter_conditional, test_images, tmp_path,
                                                   monkeypatch):
    encoders, decoders, names = _pairs(starter_model, starter_conditional, tmp_path, monkeypatch)
    for n, (path, quality) in enumerate(itertools.product(test_images, QUALITIES)):
        enc_name, dec_name = names[n % len(names)]
        enc, dec = encoders[enc_name], decoders[dec_name]
        image = read_image(path)
        data, ref = enc.encode_key(enc.analyse(image, quality), 0)
        assert _same(dec.decode_latent(data)[1], ref.latent), f"{path.name} q={quality}: {enc_name} -> {dec_name}"
        if n < len(names):  # full image decode through the decoder's float backend too
            assert dec.decode(data).shape == image.shape


@pytest.mark.slow
def test_delta_frames_decode_exactly_across_backends(starter_model, starter_conditional, test_images, tmp_path,
                                                     monkeypatch):
    encoders, decoders, names = _pairs(starter_model, starter_conditional, tmp_path, monkeypatch)
    tools = {"block skip": 0, "position skip": 0, "coded": 0}
    for n, (path, quality) in enumerate(itertools.product(test_images[:8], QUALITIES)):
        enc_name, dec_name = names[n % len(names)]
        enc, dec = encoders[enc_name], decoders[dec_name]
        image = read_image(path)
        key, enc_ref = enc.encode_key(enc.analyse(image, quality), 10, keep_image=True)
        result = enc.encode_delta(enc.analyse(next_frame(image, n), quality), 11, enc_ref)
        dec_ref = dec.reference(key)
        assert _same(dec.decode_latent(result.data, dec_ref)[1], result.reference.latent), \
            f"{path.name} q={quality}: delta {enc_name} -> {dec_name} desynchronised"
        _count_tools(result.data, tools)
        if n % 3 == 0:  # a chain: the next delta frame references this one
            chained = enc.encode_delta(enc.analyse(next_frame(next_frame(image, n), n + 1), quality), 12,
                                       result.reference)
            assert _same(dec.decode_latent(chained.data, dec.reference(result.data, dec_ref))[1],
                         chained.reference.latent), f"{path.name} q={quality}: chained delta desynchronised"
            _count_tools(chained.data, tools)
    assert all(tools.values()), f"a coding tool was never exercised: {tools}"


def _count_tools(data: bytes, tools: dict[str, int]) -> None:
    from edgecodec.codec import bitstream
    from edgecodec.codec.scene import flags

    header, (flag_bytes, _, _) = bitstream.unpack(data)
    zh, zw = codec.latent_shape(header.height, header.width)
    blocks, inner = flags.decode(flag_bytes, [zh * zw, lambda g: int((~g[0]).sum()) * 16])
    tools["block skip"] += int(blocks.sum())
    tools["position skip"] += int(inner.sum())
    tools["coded"] += int((~inner).sum())


@pytest.mark.gpu
def test_a_cuda_decoder_reads_cpu_encoded_files_exactly(starter_model, starter_conditional, test_images):
    """The integer path on a CUDA GPU (float64 convolutions, int64 gathers) decodes CPU streams exactly."""
    gpu_model = copy.deepcopy(starter_model).to("cuda")
    gpu = Codec(gpu_model, conditional=copy.deepcopy(starter_conditional).to("cuda"))
    floats = perturbed(starter_model)
    cpu = Codec(starter_model, floats.encoder_transform, floats.decoder_transform, starter_conditional)
    for path in test_images[:6]:
        image = read_image(path)
        for quality in QUALITIES:
            key, ref = cpu.encode_key(cpu.analyse(image, quality), 0, keep_image=True)
            decoded = gpu.decode_latent(key)[1]
            assert torch.equal(decoded.y_hat.cpu(), ref.latent.y_hat), f"{path.name} q={quality}"
            result = cpu.encode_delta(cpu.analyse(next_frame(image), quality), 1, ref)
            delta = gpu.decode_latent(result.data, gpu.reference(key))[1]
            assert torch.equal(delta.y_hat.cpu(), result.reference.latent.y_hat), f"{path.name} q={quality} (delta)"
