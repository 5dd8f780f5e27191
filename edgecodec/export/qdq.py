"""Store Q/DQ weights as int8 in the ONNX file (4x smaller than float weights).

PyTorch exports a fake-quantised weight as ``float initializer -> QuantizeLinear ->
DequantizeLinear``. Folding the QuantizeLinear (exactly as ONNX defines it: divide,
round half to even, add the zero point, saturate) leaves ``int8 initializer ->
DequantizeLinear``, the form TensorRT and ONNX Runtime read for explicit int8.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def _axis_view(scale: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    if scale.ndim == 0:
        return scale
    shape = [1] * ndim
    shape[axis] = -1
    return scale.reshape(shape)


def fold_weight_quantization(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace QuantizeLinear nodes of constant weights by int8 initializers (in place; returned)."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    constants = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node
                 if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}

    def value(name: str) -> np.ndarray | None:
        if name in inits:
            return numpy_helper.to_array(inits[name])
        return constants.get(name)

    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    folded = []
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] not in inits or len(node.input) < 3:
            continue
        scale, zero = value(node.input[1]), value(node.input[2])
        if scale is None or zero is None or zero.dtype != np.int8:
            continue
        w = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
        scale = scale.astype(np.float32)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        axis = axis % w.ndim
        q = np.rint(w / _axis_view(scale, axis, w.ndim)) + _axis_view(zero.astype(np.float32), axis, w.ndim)
        q = np.clip(q, -128, 127).astype(np.int8)
        graph.initializer.append(numpy_helper.from_array(q, node.output[0]))
        folded.append(node)
    for node in folded:
        graph.node.remove(node)
        if consumers.get(node.input[0], 0) == 1:
            graph.initializer.remove(inits[node.input[0]])
    return model
