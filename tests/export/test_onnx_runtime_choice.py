"""The ONNX Runtime backend on the runtime it finds: the GridSample export where DeformConv cannot run,
the TensorRT and CUDA execution providers where the build has them, and the choice logged."""
from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import onnxruntime
import pytest

from edgecodec.checkpoint import from_checkpoint
from edgecodec.codec.facade import model_id
from edgecodec.runtime import ort

GOLDEN_MODEL = Path(__file__).resolve().parents[1] / "golden" / "dkic-tiny.pt"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("version,expected", [("1.17.3", "grid_sample"), ("1.24.4", "grid_sample"),
                                              ("1.25.0", "deform_conv"), ("1.32.0", "deform_conv")])
def test_deform_conv_only_where_onnx_runtime_runs_it(monkeypatch, version, expected):
    monkeypatch.setattr(onnxruntime, "__version__", version)
    if expected == "grid_sample":
        with pytest.warns(UserWarning, match=f"ONNX Runtime {version} cannot run DeformConv .*GridSample"):
            assert ort.runnable_sampling("deform_conv") == expected
    else:
        assert ort.runnable_sampling("deform_conv") == expected
    assert ort.runnable_sampling("grid_sample") == "grid_sample"


def test_the_tensorrt_execution_provider_gets_the_grid_sample_export(monkeypatch):
    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    assert ort.runnable_sampling("deform_conv") == "grid_sample"


def test_an_old_onnx_runtime_gets_the_grid_sample_graphs(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGECODEC_CACHE", str(tmp_path))
    monkeypatch.setattr(onnxruntime, "__version__", "1.23.2")  # the newest with a Python 3.10 wheel
    model = from_checkpoint(GOLDEN_MODEL)
    with pytest.warns(UserWarning, match="GridSample"):
        ort.onnx_transforms(model, model_id(model))
    assert [p.name for p in (tmp_path / "onnx" / model_id(model).hex()).iterdir()] == ["grid_sample"]


class FakeSession:
    """Records the providers asked for; runs on those the fake build has."""

    asked: list = []

    def __init__(self, path, options, providers):
        FakeSession.asked = providers

    def get_inputs(self):
        return [SimpleNamespace(name="x")]

    def get_outputs(self):
        return [SimpleNamespace(name="y")]

    def get_providers(self):
        return [p if isinstance(p, str) else p[0] for p in FakeSession.asked]


@pytest.mark.parametrize("available,expected", [
    (["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
     ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]),
    (["CUDAExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    (["AzureExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"]),
])
def test_gpu_execution_providers_when_the_build_has_them(monkeypatch, caplog, tmp_path, available, expected):
    monkeypatch.setenv("EDGECODEC_CACHE", str(tmp_path))
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: available)
    monkeypatch.setattr(onnxruntime, "InferenceSession", FakeSession)
    with caplog.at_level(logging.INFO, "edgecodec.onnxruntime"):
        ort.session_transform(tmp_path / "encoder.onnx")
    assert [p if isinstance(p, str) else p[0] for p in FakeSession.asked] == expected
    if "TensorrtExecutionProvider" in expected:
        assert FakeSession.asked[0][1]["trt_engine_cache_path"] == str(tmp_path / "ort-tensorrt")
    assert caplog.messages == [f"ONNX Runtime {onnxruntime.__version__} runs encoder.onnx on {', '.join(expected)}"]
