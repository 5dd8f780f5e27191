"""The plugin's CUDA kernel as a PyTorch extension, for GPU tests and benchmarks.

Builds ``torch_ext.cpp`` + ``mds_kernel.cu`` (the same source as the TensorRT plugin) with
``torch.utils.cpp_extension.load`` on first use; needs a CUDA GPU, nvcc and a CUDA build of
PyTorch. Forward only (no autograd).

    from torch_ext import mds_forward
    out = mds_forward(value, offset, mask, groups, kernel_size, dilation, offset_scale)

``layout`` selects the kernel path: "nchw" (TensorRT kLINEAR), "nhwc" (unpadded channels-last)
or "nhwc8" (TensorRT kHWC8, fp16 only). Inputs and output are ordinary NCHW tensors; the
channels-last paths repack them around the call, which is not part of what the kernel costs.
"""
from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch import Tensor

HERE = Path(__file__).resolve().parent
LAYOUTS = {"nchw": 0, "nhwc": 1, "nhwc8": 2}


@functools.lru_cache(maxsize=None)
def load(verbose: bool = False):
    """Compile (cached by PyTorch in its extensions directory) and import the extension."""
    if not torch.cuda.is_available():
        raise RuntimeError("the modulated deformable sampling kernel needs a CUDA GPU")
    from torch.utils.cpp_extension import load as load_extension

    return load_extension(
        name="edgecodec_mds_ext",
        sources=[str(HERE / "torch_ext.cpp"), str(HERE / "mds_kernel.cu")],
        extra_include_paths=[str(HERE)],
        extra_cflags=["-O2", "-std=c++17"],
        # --fmad=false: bit-exact with the CPU reference (see mds_kernel.cu).
        extra_cuda_cflags=["-O3", "-std=c++17", "--fmad=false"],
        verbose=verbose,
    )


def _pitch(layout: str, channels: int) -> int:
    return (channels + 7) // 8 * 8 if layout == "nhwc8" else channels


def pack(t: Tensor, layout: str) -> Tensor:
    """NCHW tensor -> contiguous buffer in ``layout`` (NHWC8 channel padding is zero)."""
    if layout == "nchw":
        return t.contiguous()
    nhwc = t.permute(0, 2, 3, 1)
    pad = _pitch(layout, t.shape[1]) - t.shape[1]
    return torch.nn.functional.pad(nhwc, (0, pad)).contiguous() if pad else nhwc.contiguous()


def unpack(buf: Tensor, layout: str, channels: int) -> Tensor:
    """Buffer in ``layout`` -> NCHW view (channels-last strides for the NHWC layouts)."""
    return buf if layout == "nchw" else buf[..., :channels].permute(0, 3, 1, 2)


def launch(value: Tensor, offset: Tensor, mask: Tensor, out: Tensor, shape, groups: int, kernel_size: int,
           dilation: int, offset_scale: float, layout: str = "nchw") -> None:
    """Run the kernel on buffers already packed in ``layout`` (for benchmarks: no repacking)."""
    stream = torch.cuda.current_stream(value.device).cuda_stream
    with torch.cuda.device(value.device):
        load().launch(value, offset, mask, out, list(shape), groups, kernel_size, dilation, float(offset_scale),
                      LAYOUTS[layout], stream)


def mds_forward(value: Tensor, offset: Tensor, mask: Tensor, groups: int, kernel_size: int = 3, dilation: int = 1,
                offset_scale: float = 1.0, layout: str = "nchw") -> Tensor:
    """Modulated deformable sampling with the plugin's kernel; same contract as ``deform_sample``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    if layout == "nhwc8" and value.dtype != torch.float16:
        raise ValueError("the nhwc8 layout is fp16 only (TensorRT kHWC8)")
    n, c, h, w = value.shape
    v, o, m = (pack(t, layout) for t in (value, offset, mask))
    out = torch.empty_like(v)
    launch(v, o, m, out, (n, c, h, w), groups, kernel_size, dilation, offset_scale, layout)
    return unpack(out, layout, c)
