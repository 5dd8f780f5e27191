"""Export of the float transforms (ONNX now; Q/DQ and TensorRT with the edge-export work)."""
