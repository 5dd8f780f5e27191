"""ONNX Runtime backend: the float encoder/decoder from ONNX files cached per model id.

A cached graph that does not load, or is not the graph expected (other inputs or outputs:
a truncated or swapped file), is exported again, with a one-line warning. The DeformConv export
needs an ONNX Runtime that runs DeformConv; older ones get the GridSample export (with a warning),
and so does the TensorRT execution provider (TensorRT runs GridSample natively, DeformConv slowly).
Sessions run on the TensorRT and CUDA execution providers when this ONNX Runtime has them
(a Jetson's build does), else on the CPU; the choice is logged.
"""
from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path

import numpy as np
import torch

from ..codec.models.dkic import DKIC, Transform
from ..export.onnx_export import SIGNATURES, export_graphs
from ..imageio import write_atomic

GRAPHS = ("encoder", "decoder")
# The first ONNX Runtime whose CPU (and CUDA) execution providers run DeformConv(19): the kernels of
# microsoft/onnxruntime#27393 ("[CPU/CUDA EP] Add DeformConv op support"), released in 1.25.0. Checked
# with both wheels: 1.24.4 fails the DeformConv export with NOT_IMPLEMENTED, 1.25.0 runs it. There is
# no 1.25+ wheel for Python 3.10 (JetPack 6): there the GridSample export is used.
DEFORM_CONV_ORT = (1, 25)
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")  # preferred first, the CPU after them
log = logging.getLogger("edgecodec.onnxruntime")


class UnusableGraph(ValueError):
    """An ONNX file that ONNX Runtime cannot load, or that is not the graph expected."""


def cache_dir() -> Path:
    """Where exported graphs live: $EDGECODEC_CACHE, else $XDG_CACHE_HOME/edgecodec, else ~/.cache/edgecodec."""
    if os.environ.get("EDGECODEC_CACHE"):
        return Path(os.environ["EDGECODEC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgecodec"


def _export(model: DKIC, sampling: str, paths: dict[str, Path]) -> None:
    """Export the graphs into ``paths`` (each written atomically)."""
    paths["encoder"].parent.mkdir(parents=True, exist_ok=True)
    for name, data in export_graphs(model, sampling).items():
        write_atomic(paths[name], data)


def onnx_paths(model: DKIC, model_id: bytes, sampling: str = "deform_conv") -> dict[str, Path]:
    """The model's exported graphs for ONNX Runtime, exported once per (model id, sampling variant)."""
    folder = cache_dir() / "onnx" / model_id.hex() / sampling
    paths = {name: folder / f"{name}.onnx" for name in GRAPHS}
    if not all(p.exists() for p in paths.values()):
        _export(model, sampling, paths)
    return paths


def runnable_sampling(sampling: str) -> str:
    """The export variant to run: GridSample instead of DeformConv under the TensorRT execution provider
    (TensorRT runs GridSample natively, DeformConv through a slow plugin) and, with a warning, where this
    ONNX Runtime has no DeformConv kernel."""
    import onnxruntime as ort

    if sampling != "deform_conv":
        return sampling
    if "TensorrtExecutionProvider" in ort.get_available_providers():
        log.info("TensorRT execution provider: the GridSample export")
        return "grid_sample"
    if tuple(int(n) for n in re.findall(r"\d+", ort.__version__)[:2]) < DEFORM_CONV_ORT:
        warnings.warn(f"ONNX Runtime {ort.__version__} cannot run DeformConv (needs "
                      f"{'.'.join(map(str, DEFORM_CONV_ORT))}): using the GridSample export")
        return "grid_sample"
    return sampling


def providers() -> list:
    """Execution providers for a session, best first: TensorRT (its engines cached under cache_dir()), CUDA,
    the CPU; those this ONNX Runtime lacks are left out."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    options = {"TensorrtExecutionProvider": {"trt_engine_cache_enable": True,
                                             "trt_engine_cache_path": str(cache_dir() / "ort-tensorrt")}}
    chosen = [(p, options[p]) if p in options else p for p in GPU_PROVIDERS if p in available]
    return chosen + ["CPUExecutionProvider"]


def onnx_transforms(model: DKIC, model_id: bytes, sampling: str = "deform_conv",
                    threads: int = 0) -> tuple[Transform, Transform]:
    """(encoder, decoder) from the cache; exported again if a cached graph is unusable."""
    sampling = runnable_sampling(sampling)
    paths = onnx_paths(model, model_id, sampling)
    try:
        return _sessions(paths, threads)
    except UnusableGraph as e:
        warnings.warn(f"{e}: exporting the model again into {paths['encoder'].parent}")
    _export(model, sampling, paths)
    return _sessions(paths, threads)


def _sessions(paths: dict[str, Path], threads: int) -> tuple[Transform, Transform]:
    """(encoder, decoder) sessions of the cached graphs, each checked against its signature."""
    return (session_transform(paths["encoder"], threads, "encoder"),
            session_transform(paths["decoder"], threads, "decoder"))


def session_transform(path: Path, threads: int = 0, graph: str | None = None) -> Transform:
    """A callable running one exported graph with ONNX Runtime (tensors in, tensors out), on the best
    execution provider it has (``providers``).

    With ``graph`` ("encoder" or "decoder"), its inputs and outputs are checked; raises UnusableGraph."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), opts, providers=providers())
    except Exception as e:  # onnxruntime's own error types (InvalidProtobuf, Fail, ...) share no base but Exception
        raise UnusableGraph(f"{path} does not load ({type(e).__name__})") from e
    log.info("ONNX Runtime %s runs %s on %s", ort.__version__, graph or path.name, ", ".join(session.get_providers()))
    names = [i.name for i in session.get_inputs()]
    if graph is not None and (tuple(names), tuple(o.name for o in session.get_outputs())) != SIGNATURES[graph]:
        raise UnusableGraph(f"{path} is not the {graph} graph (inputs {', '.join(names)})")

    def run(*tensors: torch.Tensor):
        feed = {n: np.ascontiguousarray(t.detach().float().cpu().numpy()) for n, t in zip(names, tensors)}
        outs = [torch.from_numpy(o) for o in session.run(None, feed)]
        return outs[0] if len(outs) == 1 else tuple(outs)

    return run
