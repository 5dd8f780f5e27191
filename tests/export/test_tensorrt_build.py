"""Engine building: what can be checked without TensorRT, and the real build where it exists."""
from __future__ import annotations

from pathlib import Path

import pytest

from edgecodec.cli.main import main
from edgecodec.export.tensorrt_build import ShapeRange, cache_key, needs_typing_flag, to_fp16

GOLDEN_MODEL = Path(__file__).resolve().parents[1] / "golden" / "dkic-tiny.pt"


def test_shape_range_pads_camera_resolutions_like_the_codec():
    r = ShapeRange.for_resolutions([(1920, 1080), (1280, 720), (768, 576)])
    assert r.opt_hw == (1088, 1920) and r.min_hw == (576, 768) and r.max_hw == (1088, 1920)
    assert r.scaled(16).opt_hw == (68, 120)


def test_typing_flag_only_before_tensorrt_11():
    assert needs_typing_flag("10.3.0.30") and needs_typing_flag("10.13.2")
    assert not needs_typing_flag("11.4.1")


def test_cache_key_separates_everything_that_makes_engines_differ():
    r = ShapeRange.for_resolutions([(1920, 1080)])
    base = dict(trt_version="10.3.0", compute_capability=(8, 7), model_id="ab" * 16, graph="encoder",
                precision="fp16", shapes=r, onnx_bytes=b"x")
    keys = {cache_key(**base)}
    for field, value in [("trt_version", "11.4.1"), ("compute_capability", (11, 0)), ("model_id", "cd" * 16),
                         ("graph", "decoder"), ("precision", "int8"), ("onnx_bytes", b"y"),
                         ("shapes", ShapeRange.for_resolutions([(1280, 720)]))]:
        keys.add(cache_key(**dict(base, **{field: value})))
    assert len(keys) == 8


def test_fp16_conversion_keeps_float32_io():
    import onnx

    from edgecodec.checkpoint import from_checkpoint
    from edgecodec.export.onnx_export import export_graphs

    graph = onnx.load_from_string(to_fp16(export_graphs(from_checkpoint(GOLDEN_MODEL))["decoder"]))
    onnx.checker.check_model(graph)
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for i in graph.graph.input)
    inits = {init.data_type for init in graph.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in inits


def test_export_trt_without_tensorrt_is_one_clear_line(capsys):
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here: the missing-library message cannot be observed")
    except ImportError:
        pass
    assert main(["export", "trt", "--out", "unused"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edgecodec: error: TensorRT is not installed")


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_build_and_run_engines(tmp_path):
    """On a device with TensorRT: fp32 engines reproduce PyTorch's transforms."""
    import torch

    from edgecodec.checkpoint import from_checkpoint
    from edgecodec.codec.codec import model_id
    from edgecodec.export.trt_engines import build_model_engines
    from edgecodec.runtime_trt import engine_transforms

    model = from_checkpoint(GOLDEN_MODEL)
    build_model_engines(model, model_id(model).hex(), tmp_path, "fp32", [(320, 256)])
    encoder, decoder = engine_transforms(tmp_path)
    x = torch.rand(1, 3, 256, 320)
    gain, inverse = model.gain(torch.tensor([2.0]))
    y, z = encoder(x, gain.detach())
    with torch.no_grad():
        y_ref, z_ref = model.encoder_transform(x, gain)
    torch.testing.assert_close(y, y_ref, atol=1e-3 * float(y_ref.abs().max()), rtol=0)
    assert decoder(y_ref, inverse.detach()).shape == x.shape
