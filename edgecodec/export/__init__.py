"""Export for deployment: the float transforms as ONNX, int8 as explicit Q/DQ, TensorRT engines.

- ``onnx_export``: the float encoder and decoder as ONNX graphs (dynamic height and width).
- ``qdq``: Q/DQ weights stored as int8 in the ONNX file.
- ``tensorrt_build``: TensorRT engines built from the ONNX graphs, on the target device.
- ``trt_engines``: a model's engines: export, precision conversion, cached builds.
"""
