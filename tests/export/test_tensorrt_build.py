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


@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8-qdq"])
def test_fp16_graphs_keep_float32_io_and_run_like_the_float32_ones(int8, tmp_path):
    """What TensorRT gets for fp16 and int8 engines: a valid float16 graph (checked by running it
    in ONNX Runtime) with float32 inputs and outputs, computing what the float32 graph computes."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from edgecodec.checkpoint import from_checkpoint
    from edgecodec.export.onnx_export import export_graphs
    from edgecodec.train.loop import TrainOptions, train

    model = from_checkpoint(GOLDEN_MODEL)
    if int8:
        model = from_checkpoint(train(TrainOptions(
            data=str(Path(GOLDEN_MODEL).parents[1] / "data"), out=str(tmp_path), steps=2, batch=2, crop=64,
            lr=1e-5, checkpoint_every=100, init=str(GOLDEN_MODEL), qat="all")))
    rng = np.random.default_rng(0)
    m = model.config.latent
    feeds = {"encoder": {"image": rng.random((1, 3, 64, 96), dtype=np.float32), "gain": np.ones((1, m, 1, 1), np.float32)},
             "decoder": {"latent": rng.normal(0, 3, (1, m, 4, 6)).astype(np.float32),
                         "inverse_gain": np.ones((1, m, 1, 1), np.float32)}}
    graphs = export_graphs(model, "grid_sample")
    for name, feed in feeds.items():
        half = to_fp16(graphs[name])
        proto = onnx.load_from_string(half)
        onnx.checker.check_model(proto)
        assert all(i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for i in proto.graph.input)
        assert all(o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for o in proto.graph.output)
        assert onnx.TensorProto.FLOAT16 in {init.data_type for init in proto.graph.initializer}
        reference = ort.InferenceSession(graphs[name]).run(None, feed)
        result = ort.InferenceSession(half).run(None, feed)
        for a, b in zip(reference, result):
            assert b.dtype == np.float32
            # float16 rounding; with int8 also values that cross a quantisation step (1/127 of a range)
            mean_tol, max_tol = (1e-2, 0.1) if int8 else (2e-3, 0.05)
            assert np.abs(a - b).mean() < mean_tol * np.abs(a).max() and np.abs(a - b).max() < max_tol * np.abs(a).max()


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
    from edgecodec.codec.facade import model_id
    from edgecodec.export.trt_engines import build_model_engines
    from edgecodec.runtime.trt import engine_transforms

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
