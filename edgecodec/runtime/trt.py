"""TensorRT backend: the float encoder/decoder as engines built on the device, run with pycuda.

Selected with ``--backend tensorrt``; needs JetPack's TensorRT and pycuda
(docs/jetson.md). The integer entropy path stays in PyTorch, as on every backend.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..codec.models.dkic import Transform
from ..export.tensorrt_build import TensorRTUnavailable, import_tensorrt


def _pycuda():
    try:
        import pycuda.autoinit  # noqa: F401,PLC0415  (creates the CUDA context)
        import pycuda.driver as cuda  # noqa: PLC0415
    except ImportError:
        raise TensorRTUnavailable("pycuda is not installed: pip install pycuda (needs nvcc and cuda.h)") from None
    return cuda


class EngineRunner:
    """One deserialized engine with an execution context, a stream and device buffers."""

    def __init__(self, engine_path: Path, plugin_library: Path | None = None):
        trt = import_tensorrt()
        self.cuda = _pycuda()
        logger = trt.Logger(trt.Logger.WARNING)
        if plugin_library is not None:
            trt.get_plugin_registry().load_library(str(plugin_library))
        runtime = trt.Runtime(logger)
        self.engine = runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise RuntimeError(f"{engine_path}: not an engine for this TensorRT/GPU (rebuild it on this device)")
        self.context = self.engine.create_execution_context()
        self.stream = self.cuda.Stream()
        self.names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in self.names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in self.names if n not in self.inputs]
        self._trt = trt

    def __call__(self, *tensors: torch.Tensor):
        cuda, buffers = self.cuda, []
        for name, t in zip(self.inputs, tensors):
            host = np.ascontiguousarray(t.detach().float().cpu().numpy())
            self.context.set_input_shape(name, host.shape)
            dev = cuda.mem_alloc(host.nbytes)
            cuda.memcpy_htod_async(dev, host, self.stream)
            self.context.set_tensor_address(name, int(dev))
            buffers.append(dev)
        results = []
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            host = cuda.pagelocked_empty(shape, dtype=np.float32)
            dev = cuda.mem_alloc(host.nbytes)
            self.context.set_tensor_address(name, int(dev))
            buffers.append(dev)
            results.append((host, dev))
        if not self.context.execute_async_v3(self.stream.handle):
            raise RuntimeError("TensorRT execution failed")
        for host, dev in results:
            cuda.memcpy_dtoh_async(host, dev, self.stream)
        self.stream.synchronize()
        outs = [torch.from_numpy(np.array(h)) for h, _ in results]
        return outs[0] if len(outs) == 1 else tuple(outs)


def engine_transforms(engine_dir: Path, plugin_library: Path | None = None) -> tuple[Transform, Transform]:
    """(encoder, decoder) callables from ``encoder.engine`` and ``decoder.engine`` in a folder."""
    engine_dir = Path(engine_dir)
    return (EngineRunner(engine_dir / "encoder.engine", plugin_library),
            EngineRunner(engine_dir / "decoder.engine", plugin_library))
