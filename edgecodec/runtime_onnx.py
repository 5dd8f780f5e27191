"""ONNX Runtime backend: the float encoder/decoder from ONNX files cached per model id."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .codec.models.dkic import DKIC, Transform
from .imageio import write_atomic

GRAPHS = ("encoder", "decoder")


def cache_dir() -> Path:
    """Where exported graphs live: $EDGECODEC_CACHE, else $XDG_CACHE_HOME/edgecodec, else ~/.cache/edgecodec."""
    if os.environ.get("EDGECODEC_CACHE"):
        return Path(os.environ["EDGECODEC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgecodec"


def onnx_paths(model: DKIC, mid: bytes, sampling: str = "deform_conv") -> dict[str, Path]:
    """The model's exported graphs for ONNX Runtime, exported once per (model id, sampling variant)."""
    folder = cache_dir() / "onnx" / mid.hex() / sampling
    paths = {name: folder / f"{name}.onnx" for name in GRAPHS}
    if not all(p.exists() for p in paths.values()):
        from .export.onnx_export import export_graphs

        folder.mkdir(parents=True, exist_ok=True)
        for name, data in export_graphs(model, sampling).items():
            write_atomic(paths[name], data)
    return paths


def session_transform(path: Path, threads: int = 0) -> Transform:
    """A callable running one exported graph on the CPU with ONNX Runtime (tensors in, tensors out)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(*tensors: torch.Tensor):
        feed = {n: np.ascontiguousarray(t.detach().float().cpu().numpy()) for n, t in zip(names, tensors)}
        outs = [torch.from_numpy(o) for o in session.run(None, feed)]
        return outs[0] if len(outs) == 1 else tuple(outs)

    return run
