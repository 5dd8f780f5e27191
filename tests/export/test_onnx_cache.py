"""The ONNX Runtime backend's graph cache: an unusable cached graph is exported again, with one warning line."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from edgecodec.checkpoint import from_checkpoint
from edgecodec.codec.facade import model_id
from edgecodec.imageio import write_png

GOLDEN_MODEL = Path(__file__).resolve().parents[1] / "golden" / "dkic-tiny.pt"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A cache holding the golden model's graphs, exported once for the module."""
    from edgecodec.runtime.ort import onnx_paths

    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGECODEC_CACHE", str(folder))
        model = from_checkpoint(GOLDEN_MODEL)
        onnx_paths(model, model_id(model))
    return folder


@pytest.fixture
def graphs(cache, tmp_path, monkeypatch) -> Path:
    """A private copy of the exported cache; its folder of graphs."""
    shutil.copytree(cache, tmp_path / "cache")
    monkeypatch.setenv("EDGECODEC_CACHE", str(tmp_path / "cache"))
    return next((tmp_path / "cache").glob("onnx/*/deform_conv"))


def spoil(graphs: Path, how: str) -> None:
    encoder = graphs / "encoder.onnx"
    if how == "truncated":
        encoder.write_bytes(encoder.read_bytes()[:100_000])
    elif how == "empty":
        encoder.write_bytes(b"")
    else:  # the decoder graph in the encoder's place
        shutil.copy(graphs / "decoder.onnx", encoder)


@pytest.mark.parametrize("how", ["truncated", "empty", "swapped"])
def test_encode_rebuilds_an_unusable_cached_graph(cli, graphs, tmp_path, how):
    image = (np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8)
    write_png(tmp_path / "in.png", image)
    argv = ["encode", tmp_path / "in.png", "--model", GOLDEN_MODEL, "--backend", "onnxruntime"]
    good = cli(*argv, "-o", tmp_path / "good.ecb")
    assert good.rc == 0 and good.err == ""
    spoil(graphs, how)
    res = cli(*argv, "-o", tmp_path / "again.ecb")
    assert res.rc == 0, res.err
    assert len(res.err_lines) == 1 and res.err.startswith("edgecodec: warning: ") and "encoder.onnx" in res.err
    assert (tmp_path / "again.ecb").read_bytes() == (tmp_path / "good.ecb").read_bytes()
    assert cli(*argv, "-o", tmp_path / "third.ecb").err == ""  # rebuilt for good
    assert not list(graphs.glob(".*.tmp"))


def test_the_rebuilt_transforms_match_pytorch(graphs):
    from edgecodec.runtime.ort import UnusableGraph, onnx_transforms, session_transform

    model = from_checkpoint(GOLDEN_MODEL)
    spoil(graphs, "swapped")
    with pytest.raises(UnusableGraph, match="is not the encoder graph"):
        session_transform(graphs / "encoder.onnx", graph="encoder")
    with pytest.warns(UserWarning, match="exporting the model again"):
        encoder, _ = onnx_transforms(model, model_id(model))
    x = torch.rand(1, 3, 64, 96)
    gain, _ = model.gain(torch.tensor([2.0]))
    with torch.no_grad():
        y, _ = model.encoder_transform(x, gain)
    np.testing.assert_allclose(encoder(x, gain.detach())[0].numpy(), y.numpy(), atol=2e-4 * float(y.abs().max()))
