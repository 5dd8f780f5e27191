"""Build TensorRT engines from the exported ONNX, on the target device.

Engines are not portable across GPU architectures or TensorRT versions, and a
rebuild is not bit-identical, so engines are built on the device and cached
under a key of (TensorRT version, compute capability, model id, graph,
precision, input range). Networks are strongly typed everywhere:

    precision  ONNX given to TensorRT                    TensorRT 10.3 (JetPack 6)    TensorRT 11.x
    fp32       float graph                               STRONGLY_TYPED flag          always strongly typed
    fp16       float16 graph (converted here, fp32 I/O)  STRONGLY_TYPED flag          always strongly typed
    int8       Q/DQ graph from `edgecodec qat`, float16  STRONGLY_TYPED flag          always strongly typed
               between the Q/DQ pairs (converted here)

In a strongly typed network every tensor runs in the type the graph gives it, so the int8
graph is converted to float16 as well: the layers the int8 plan keeps float (LayerNorm, GELU,
sampling, the plan's float convolutions) then run in fp16, not fp32.

No implicit calibration and no FP16/INT8 builder flags: TensorRT 11 removed them.
The plugin library (export/plugins/modulated_deform_sampling) is loaded into the
builder's registry when the graph uses the plugin variant.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import onnx

PRECISIONS = ("fp32", "fp16", "int8")


class TensorRTUnavailable(RuntimeError):
    """TensorRT's Python bindings cannot be imported on this machine."""


def import_tensorrt():
    """The tensorrt module, or a one-line explanation of how to get it."""
    try:
        import tensorrt  # noqa: PLC0415
    except ImportError:
        raise TensorRTUnavailable(
            "TensorRT is not installed: on a Jetson use JetPack's python3-libnvinfer in a venv made with "
            "--system-site-packages (see docs/jetson.md); PyPI's tensorrt wheels need NVIDIA's download host"
        ) from None
    return tensorrt


def version_tuple(version: str) -> tuple[int, ...]:
    """'10.3.0.30' -> (10, 3, 0, 30)."""
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def needs_typing_flag(version: str) -> bool:
    """TensorRT 10.x needs STRONGLY_TYPED at network creation; 11 is always strongly typed."""
    return version_tuple(version) < (11,)


@dataclass(frozen=True)
class ShapeRange:
    """Optimization profile of one dynamic image input: (min, opt, max) heights and widths, multiples of 64."""

    min_hw: tuple[int, int]
    opt_hw: tuple[int, int]
    max_hw: tuple[int, int]

    @classmethod
    def for_resolutions(cls, resolutions: list[tuple[int, int]]) -> "ShapeRange":
        """A profile covering camera resolutions (width, height), padded like the codec pads."""
        padded = [(-(-h // 64) * 64, -(-w // 64) * 64) for w, h in resolutions]
        hs, ws = [p[0] for p in padded], [p[1] for p in padded]
        return cls((min(hs), min(ws)), padded[0], (max(hs), max(ws)))

    def scaled(self, factor: int) -> "ShapeRange":
        """The same range for a tensor at 1/factor resolution (the decoder's latent input)."""
        def div(hw):
            return hw[0] // factor, hw[1] // factor
        return ShapeRange(div(self.min_hw), div(self.opt_hw), div(self.max_hw))

    def tag(self) -> str:
        return "-".join(f"{h}x{w}" for h, w in (self.min_hw, self.opt_hw, self.max_hw))


def cache_key(trt_version: str, compute_capability: tuple[int, int], model_id: str, graph: str, precision: str,
              shapes: ShapeRange, onnx_bytes: bytes) -> str:
    """File name of a cached engine; the ONNX hash covers the sampling variant and Q/DQ scales."""
    digest = hashlib.sha256(onnx_bytes).hexdigest()[:12]
    cc = f"sm{compute_capability[0]}{compute_capability[1]}"
    return f"{graph}-{model_id[:16]}-{precision}-trt{trt_version}-{cc}-{shapes.tag()}-{digest}.engine"


def _split_consumed_outputs(graph: onnx.GraphProto) -> None:
    """Graph outputs that nodes also read become Identity copies of an internal tensor."""
    read = {name for node in graph.node for name in node.input}
    for out in graph.output:
        if out.name not in read:
            continue
        internal = out.name + "/internal"
        for node in graph.node:
            node.output[:] = [internal if o == out.name else o for o in node.output]
            node.input[:] = [internal if i == out.name else i for i in node.input]
        graph.node.append(onnx.helper.make_node("Identity", [internal], [out.name], name=f"{out.name}/output"))


def to_fp16(onnx_bytes: bytes) -> bytes:
    """Float16 graph with float32 inputs/outputs (strongly typed fp16 for TensorRT).

    The converter retypes tensors and initializers but not the ``to`` of the graph's own Cast
    nodes (e.g. index -> float in the sampling decomposition), which would leave float32 tensors
    inside a float16 graph; those casts are retargeted to float16 here. The casts the converter
    adds at the float32 inputs and outputs are left alone. A graph output that other nodes also
    read (the encoder's latent feeds the hyper-analysis) is first split off through an Identity,
    or the converter's output cast would feed float32 to those readers.
    """
    from onnxconverter_common import float16  # noqa: PLC0415

    model = onnx.load_from_string(onnx_bytes)
    _split_consumed_outputs(model.graph)
    original = {n.name for n in model.graph.node if n.op_type == "Cast"}
    model = float16.convert_float_to_float16(model, keep_io_types=True)
    for node in model.graph.node:
        if node.op_type == "Cast" and node.name in original:
            for attr in node.attribute:
                if attr.name == "to" and attr.i == onnx.TensorProto.FLOAT:
                    attr.i = onnx.TensorProto.FLOAT16
    buf = io.BytesIO()
    onnx.save(model, buf)
    return buf.getvalue()


def build_engine(onnx_bytes: bytes, input_name: str, channels: int, shapes: ShapeRange, extra_inputs: dict,
                 plugin_library: Path | None = None, timing_cache: Path | None = None,
                 workspace_mb: int = 1024) -> bytes:
    """Serialized engine for one graph. ``extra_inputs`` maps other input names to fixed shapes."""
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    if plugin_library is not None:
        builder.get_plugin_registry().load_library(str(plugin_library))
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if needs_typing_flag(trt.__version__) else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse the ONNX graph: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, *[(1, channels, h, w) for h, w in (shapes.min_hw, shapes.opt_hw, shapes.max_hw)])
    for name, shape in extra_inputs.items():
        profile.set_shape(name, shape, shape, shape)
    config.add_optimization_profile(profile)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache and timing_cache.exists() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError("TensorRT failed to build the engine (see its log above)")
    if timing_cache is not None:
        timing_cache.write_bytes(memoryview(config.get_timing_cache().serialize()))
    return bytes(engine)
