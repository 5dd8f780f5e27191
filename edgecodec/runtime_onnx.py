"""ONNX Runtime backend: the float transforms from ONNX files cached per model id."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from .codec.models.dkic import DKIC
from .imageio import write_atomic


def cache_dir() -> Path:
    """Where exported graphs live: $EDGECODEC_CACHE, else $XDG_CACHE_HOME/edgecodec, else ~/.cache/edgecodec."""
    if os.environ.get("EDGECODEC_CACHE"):
        return Path(os.environ["EDGECODEC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgecodec"


def onnx_paths(model: DKIC, mid: bytes) -> dict[str, Path]:
    """The model's exported graphs, exporting them once if the cache lacks them."""
    folder = cache_dir() / "onnx" / mid.hex()
    paths = {name: folder / f"{name}.onnx" for name in ("analysis", "synthesis")}
    if not all(p.exists() for p in paths.values()):
        from .export.onnx_export import export_transforms

        folder.mkdir(parents=True, exist_ok=True)
        for name, data in export_transforms(model).items():
            write_atomic(paths[name], data)
    return paths


def session_transform(path: Path, threads: int = 0) -> Callable[[Tensor], Tensor]:
    """A callable running one exported graph on the CPU with ONNX Runtime."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x: Tensor) -> Tensor:
        out = session.run(None, {name: np.ascontiguousarray(x.detach().float().cpu().numpy())})[0]
        return torch.from_numpy(out)

    return run
