"""The TensorRT plugin's sampling kernel (export/plugins/modulated_deform_sampling).

CPU: the kernel's per-thread code (mds_math.h), compiled for the host with g++ into a small
library, against :func:`deform_sample` (itself checked against a NumPy loop reference) in fp32
and emulated fp16, in every layout the plugin accepts. The CUDA source must compile with nvcc
for Orin and Thor; the plugin must compile against TensorRT headers and pass its API checks
when headers are available. GPU (``gpu`` marker): the PyTorch extension built from the same .cu.
"""
from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edgecodec.codec.ops import sampling_variants
from edgecodec.codec.ops.deform_sampling import deform_sample

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "export" / "plugins" / "modulated_deform_sampling"
SPEC = json.loads((PLUGIN / "spec.json").read_text())
TOL = SPEC["tolerances"]

LAYOUTS = {"nchw": 0, "nhwc": 1, "nhwc8": 2}
DTYPES = {np.float32: 0, np.float16: 1}


# ---------------------------------------------------------------------------------------------
# Building the host reference
# ---------------------------------------------------------------------------------------------

def _cxx() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def _nvcc() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and (Path(root) / "bin" / "nvcc").exists():
            return str(Path(root) / "bin" / "nvcc")
    return None


def _build_host_library(out_dir: Path) -> Path:
    lib = out_dir / "libmds_host.so"
    cmd = [_cxx(), "-std=c++17", "-O2", "-fPIC", "-shared", "-ffp-contract=off", "-Wall", "-Wextra",
           str(PLUGIN / "mds_host.cpp"), "-o", str(lib)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return lib


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    if _cxx() is None:
        pytest.skip("no C++ compiler (g++/c++ or $CXX) to build the host reference")
    lib = ctypes.CDLL(str(_build_host_library(tmp_path_factory.mktemp("mds_host"))))
    p, i32, i64, f32 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64, ctypes.c_float
    lib.mds_host_forward.argtypes = [p, p, p, p] + [i32] * 7 + [f32, i32, i32]
    lib.mds_host_forward.restype = i32
    lib.mds_host_plan.argtypes = [i32] * 7 + [f32, i32, i32, ctypes.c_uint64, p, p]
    lib.mds_host_plan.restype = i32
    lib.mds_host_float_to_half.argtypes = [p, p, i64]
    lib.mds_host_half_to_float.argtypes = [p, p, i64]
    return lib


# ---------------------------------------------------------------------------------------------
# Layout helpers (NumPy)
# ---------------------------------------------------------------------------------------------

def aligned_empty(shape, dtype, align: int = 64) -> np.ndarray:
    """An uninitialised C-contiguous array whose data pointer is aligned to ``align`` bytes."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = np.empty(nbytes + align, np.uint8)
    start = (-buf.ctypes.data) % align
    return buf[start:start + nbytes].view(dtype).reshape(shape)


def pitch(layout: str, channels: int) -> int:
    return (channels + 7) // 8 * 8 if layout == "nhwc8" else channels


def to_layout(a: np.ndarray, layout: str, fill=0.0) -> np.ndarray:
    """NCHW array -> aligned buffer in ``layout`` (channel padding set to ``fill``)."""
    n, c, h, w = a.shape
    if layout == "nchw":
        out = aligned_empty(a.shape, a.dtype)
        out[...] = a
        return out
    out = aligned_empty((n, h, w, pitch(layout, c)), a.dtype)
    out[...] = fill
    out[..., :c] = a.transpose(0, 2, 3, 1)
    return out


def from_layout(buf: np.ndarray, layout: str, c: int) -> np.ndarray:
    return buf if layout == "nchw" else np.ascontiguousarray(buf[..., :c].transpose(0, 3, 1, 2))


def run_host(host, value, offset, mask, groups, ks=3, dil=1, scale=1.0, layout="nchw", out_fill=np.nan):
    """Run the host reference; returns (NCHW output, raw output buffer)."""
    n, c, h, w = value.shape
    v, o, m = (to_layout(a, layout) for a in (value, offset, mask))
    out = to_layout(np.full(value.shape, out_fill, value.dtype), layout, fill=out_fill)
    status = host.mds_host_forward(v.ctypes.data, o.ctypes.data, m.ctypes.data, out.ctypes.data,
                                   n, c, h, w, groups, ks, dil, scale, DTYPES[value.dtype.type], LAYOUTS[layout])
    assert status == 0, f"mds_host_forward returned {status}"
    return from_layout(out, layout, c), out


def plan(host, c, groups, dtype=np.float16, layout="nhwc8", address_bits=0, ks=3):
    info = (ctypes.c_int32 * 4)()
    threads = ctypes.c_int64()
    status = host.mds_host_plan(1, c, 5, 7, groups, ks, 1, 1.0, DTYPES[dtype], LAYOUTS[layout], address_bits,
                                ctypes.addressof(info), ctypes.addressof(threads))
    return status, {"vec": info[0], "chunks": info[1], "per_thread": info[2], "paired": info[3],
                    "threads": threads.value}


def random_problem(seed, n, c, h, w, groups, ks, spread, dtype=np.float32):
    rng = np.random.default_rng(seed)
    k = ks * ks
    value = rng.standard_normal((n, c, h, w)).astype(dtype)
    offset = (rng.standard_normal((n, groups * k * 2, h, w)) * spread).astype(dtype)
    mask = rng.standard_normal((n, groups * k, h, w)).astype(dtype)
    return value, offset, mask


def reference(value, offset, mask, groups, ks, dil, scale) -> np.ndarray:
    """deform_sample in float64 on exactly the given (fp32 or fp16) values."""
    t = [torch.from_numpy(a.astype(np.float64)) for a in (value, offset, mask)]
    return deform_sample(*t, groups, ks, dil, scale).numpy()


def assert_within(got, ref, precision):
    tol = TOL[precision]
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=tol["rtol"], atol=tol["atol"])


# ---------------------------------------------------------------------------------------------
# fp16 conversions
# ---------------------------------------------------------------------------------------------

def test_half_to_float_is_exact_for_every_bit_pattern(host):
    bits = np.arange(1 << 16, dtype=np.uint16)
    got = np.empty(bits.size, np.float32)
    host.mds_host_half_to_float(bits.ctypes.data, got.ctypes.data, bits.size)
    want = bits.view(np.float16).astype(np.float32)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))


def test_float_to_half_rounds_to_nearest_even(host):
    rng = np.random.default_rng(0)
    edge = np.array([0.0, -0.0, 65504, 65519.996, 65520, -65520, 1e9, np.inf, -np.inf, 2.0 ** -14,
                     2.0 ** -24, 2.0 ** -25, 2.0 ** -25 * 1.0000001, 3 * 2.0 ** -25, 2.0 ** -26, 1 + 2.0 ** -11,
                     1 + 3 * 2.0 ** -11, 2.0 ** -14 - 2.0 ** -25, 1e-45], np.float32)
    random = np.concatenate([rng.standard_normal(100_000) * 10.0 ** rng.integers(-9, 6, 100_000),
                             rng.uniform(-1, 1, 20_000) * 2.0 ** -14]).astype(np.float32)
    floats = np.concatenate([edge, -edge, random, np.frombuffer(rng.bytes(4 * 50_000), np.float32)])
    floats = floats[~np.isnan(floats)]
    got = np.empty(floats.size, np.uint16)
    host.mds_host_float_to_half(floats.ctypes.data, got.ctypes.data, floats.size)
    with np.errstate(over="ignore"):  # NumPy warns when rounding to infinity
        want = floats.astype(np.float16).view(np.uint16)
    assert np.array_equal(got, want)
    nan = np.array([np.nan], np.float32)
    host.mds_host_float_to_half(nan.ctypes.data, got.ctypes.data, 1)
    assert np.isnan(got[:1].view(np.float16)[0])


# ---------------------------------------------------------------------------------------------
# The kernel's arithmetic on the CPU
# ---------------------------------------------------------------------------------------------

CASES = [  # n, c, h, w, groups, kernel_size, dilation, offset_scale, offset spread
    pytest.param(1, 4, 5, 7, 1, 3, 1, 1.0, 1.5, id="basic"),
    pytest.param(2, 6, 7, 3, 3, 3, 2, 0.5, 4.0, id="batch2-dilation2"),
    pytest.param(1, 8, 1, 9, 2, 1, 1, 1.0, 2.0, id="kernel1-one-row"),
    pytest.param(1, 12, 6, 6, 4, 5, 1, 1.0, 20.0, id="kernel5-far-outside"),
    pytest.param(1, 48, 9, 11, 3, 3, 1, 0.25, 3.0, id="cg16-odd-size"),
    pytest.param(1, 40, 5, 13, 2, 5, 2, 1.5, 2.5, id="cg20-partial-chunk"),
    pytest.param(1, 6, 4, 5, 2, 2, 1, 1.0, 1.0, id="even-kernel"),
]


@pytest.mark.parametrize("n,c,h,w,groups,ks,dil,scale,spread", CASES)
def test_fp32_matches_deform_sample(host, n, c, h, w, groups, ks, dil, scale, spread):
    value, offset, mask = random_problem(c * h + w, n, c, h, w, groups, ks, spread)
    got, _ = run_host(host, value, offset, mask, groups, ks, dil, scale)
    assert_within(got, reference(value, offset, mask, groups, ks, dil, scale), "float32")


@pytest.mark.parametrize("n,c,h,w,groups,ks,dil,scale,spread", CASES)
def test_fp16_is_the_rounded_fp32_result(host, n, c, h, w, groups, ks, dil, scale, spread):
    """fp16 storage, fp32 arithmetic: exactly the fp32 kernel on the same values, rounded once."""
    value, offset, mask = random_problem(c * h + w, n, c, h, w, groups, ks, spread, np.float16)
    got16, _ = run_host(host, value, offset, mask, groups, ks, dil, scale)
    got32, _ = run_host(host, *(a.astype(np.float32) for a in (value, offset, mask)), groups, ks, dil, scale)
    assert np.array_equal(got16.view(np.uint16), got32.astype(np.float16).view(np.uint16))
    assert_within(got16, reference(value, offset, mask, groups, ks, dil, scale), "float16")


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("c,groups", [(48, 3), (16, 4), (12, 2), (9, 3), (20, 2)])
def test_layouts_agree_bit_for_bit(host, dtype, c, groups):
    """NCHW, NHWC and NHWC8 (vectorised) give identical bits; NHWC8 padding is zero-filled."""
    value, offset, mask = random_problem(c, 2, c, 5, 6, groups, 3, 2.0, dtype)
    outs = {}
    for layout in LAYOUTS:
        outs[layout], raw = run_host(host, value, offset, mask, groups, 3, 1, 0.75, layout)
        if layout == "nhwc8" and pitch(layout, c) > c:
            assert np.all(raw[..., c:] == 0), "channel padding must be zero-filled"
    bits = np.uint32 if dtype == np.float32 else np.uint16
    for layout in ("nhwc", "nhwc8"):
        assert np.array_equal(outs[layout].view(bits), outs["nchw"].view(bits)), layout


def test_plan_picks_vector_widths(host):
    # fp16 channels-last: 16-byte vectors when the group width allows, narrower otherwise.
    assert plan(host, 64, 4)[1]["vec"] == 8       # Cg 16
    assert plan(host, 96, 4)[1]["vec"] == 8       # Cg 24 (dkic-small)
    assert plan(host, 16, 4)[1]["vec"] == 4       # Cg 4
    assert plan(host, 12, 2)[1]["vec"] == 2       # Cg 6
    assert plan(host, 9, 3)[1]["vec"] == 1        # Cg 3
    assert plan(host, 64, 4, np.float32, "nhwc")[1]["vec"] == 4
    assert plan(host, 64, 4, address_bits=8)[1]["vec"] == 4   # base only 8-byte aligned
    misaligned = plan(host, 64, 4, address_bits=2)[1]
    assert misaligned["vec"] == 1 and misaligned["paired"] == 0
    _, nchw = plan(host, 96, 4, np.float32, "nchw")
    assert nchw["vec"] == 1 and nchw["chunks"] == 3 and nchw["threads"] == 5 * 7 * 4 * 3


@pytest.mark.parametrize("args,status", [
    ((1, 10, 5, 7, 4, 3, 1, 1.0, 0, 0), 1),            # C not divisible by groups
    ((1, 8, 5, 7, 0, 3, 1, 1.0, 0, 0), 2),             # groups 0
    ((1, 8, 5, 7, 2, 0, 1, 1.0, 0, 0), 2),             # kernel 0
    ((1, 8, 5, 7, 2, 17, 1, 1.0, 0, 0), 2),            # kernel above 15
    ((1, 8, 5, 7, 2, 3, 0, 1.0, 0, 0), 2),             # dilation 0
    ((1, 8, 5, 7, 2, 3, 1, float("nan"), 0, 0), 2),    # offset_scale not finite
    ((1, 8, 5, 7, 2, 3, 1, 1.0, 5, 0), 3),             # unknown dtype
    ((1, 8, 5, 7, 2, 3, 1, 1.0, 0, 9), 3),             # unknown layout
    ((1, 8, 50_000, 50_000, 2, 3, 1, 1.0, 0, 0), 4),   # one image beyond 2^31 elements
])
def test_invalid_problems_are_rejected(host, args, status):
    dummy = np.zeros(1, np.float32).ctypes.data
    assert host.mds_host_forward(dummy, dummy, dummy, dummy, *args) == status


def test_empty_batch_is_a_no_op(host):
    z = np.zeros(1, np.float32).ctypes.data
    assert host.mds_host_forward(z, z, z, z, 0, 8, 5, 7, 2, 3, 1, 1.0, 0, 0) == 0


# ---------------------------------------------------------------------------------------------
# Specification, CUDA and TensorRT sources
# ---------------------------------------------------------------------------------------------

def test_spec_matches_the_export_and_the_plugin():
    source = (PLUGIN / "ModulatedDeformSamplingPlugin.h").read_text()
    assert SPEC["op"] == sampling_variants.PLUGIN_OP
    assert SPEC["namespace"] == sampling_variants.PLUGIN_DOMAIN
    for literal in (SPEC["op"], SPEC["namespace"], SPEC["version"]):
        assert f'"{literal}"' in source
    assert [i["name"] for i in SPEC["inputs"]] == ["value", "offset", "mask"]
    for attr in SPEC["attributes"]:
        assert f'"{attr["name"]}"' in source, attr["name"]


def _newest_arch(nvcc: str) -> tuple[str, list[str]]:
    listed = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True, text=True, check=True).stdout.split()
    archs = sorted({int(a.split("_")[1]) for a in listed if a.startswith("compute_")})
    return ("110" if 110 in archs else str(archs[-1])), [str(a) for a in archs]


# The flags torch.utils.cpp_extension adds: the source must build without half operators.
NO_HALF_OPS = ["-D__CUDA_NO_HALF_OPERATORS__", "-D__CUDA_NO_HALF_CONVERSIONS__", "-D__CUDA_NO_HALF2_OPERATORS__"]


def test_cuda_source_compiles_for_orin_and_thor(tmp_path):
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found (PATH, $CUDA_HOME, /usr/local/cuda): cannot compile the CUDA kernel")
    thor, archs = _newest_arch(nvcc)
    assert "87" in archs, f"this nvcc cannot target Orin (sm_87): {archs}"
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in ("87", thor)]
    base = [nvcc, "-std=c++17", "-O3", "--fmad=false", *NO_HALF_OPS, "-Xcompiler", "-Wall,-Wextra"]
    done = subprocess.run([*base, *gencode, "-c", str(PLUGIN / "mds_kernel.cu"), "-o", str(tmp_path / "k.o")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # The fp16 channels-last kernel must really use 128-bit loads (ld.global.nc.v4).
    done = subprocess.run([*base, "-arch=sm_87", "-ptx", str(PLUGIN / "mds_kernel.cu"), "-o", str(tmp_path / "k.ptx")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "ld.global.nc.v4.u32" in (tmp_path / "k.ptx").read_text()


def _tensorrt_include() -> Path | None:
    candidates = [os.environ.get("TensorRT_ROOT"), os.environ.get("TENSORRT_ROOT")]
    dirs = [Path(c) / "include" for c in candidates if c]
    dirs += [Path(os.environ["TensorRT_INCLUDE_DIR"])] if os.environ.get("TensorRT_INCLUDE_DIR") else []
    dirs += [Path("/usr/include/aarch64-linux-gnu"), Path("/usr/include/x86_64-linux-gnu"), Path("/usr/include")]
    return next((d for d in dirs if (d / "NvInferRuntime.h").exists()), None)


def _cuda_include() -> Path | None:
    nvcc = _nvcc()
    roots = [Path(nvcc).resolve().parents[1]] if nvcc else []
    roots += [Path(r) for r in (os.environ.get("CUDA_HOME"), "/usr/local/cuda") if r]
    return next((r / "include" for r in roots if (r / "include" / "cuda_runtime_api.h").exists()), None)


def test_plugin_builds_and_passes_api_checks(tmp_path):
    """IPluginV3 plugin + creator against real TensorRT headers, enqueue served by the host kernel."""
    trt, cuda = _tensorrt_include(), _cuda_include()
    if trt is None:
        pytest.skip("TensorRT headers not found (set TensorRT_ROOT to a directory with include/NvInfer.h)")
    if cuda is None or _cxx() is None:
        pytest.skip("needs a C++ compiler and the CUDA runtime headers (cuda_runtime_api.h)")
    exe = tmp_path / "plugin_check"
    cmd = [_cxx(), "-std=c++17", "-O1", "-ffp-contract=off", "-Wall", "-Wextra", "-isystem", str(trt),
           "-isystem", str(cuda), str(PLUGIN / "plugin_check.cpp"), str(PLUGIN / "ModulatedDeformSamplingPlugin.cpp"),
           str(PLUGIN / "ModulatedDeformSamplingCreator.cpp"), str(PLUGIN / "mds_host.cpp"), "-o", str(exe)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "all plugin checks passed" in ran.stdout


@pytest.mark.slow
def test_torch_extension_source_compiles(tmp_path):
    """torch_ext.cpp against this PyTorch's headers (syntax only: no CUDA build of PyTorch here)."""
    from torch.utils.cpp_extension import include_paths
    import sysconfig

    cuda, python = _cuda_include(), Path(sysconfig.get_paths()["include"])
    if _cxx() is None or cuda is None or not (python / "Python.h").exists():
        pytest.skip("needs a C++ compiler, the CUDA runtime headers and Python.h")
    flags = [f for path in include_paths() for f in ("-isystem", path)]
    cmd = [_cxx(), "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-DTORCH_EXTENSION_NAME=mds_ext",
           "-DTORCH_API_INCLUDE_EXTENSION_H", *flags, "-isystem", str(python), "-isystem", str(cuda),
           str(PLUGIN / "torch_ext.cpp")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------------------------------------
# GPU: the PyTorch extension built from the same .cu
# ---------------------------------------------------------------------------------------------

def _torch_ext():
    spec = importlib.util.spec_from_file_location("mds_torch_ext", PLUGIN / "torch_ext.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("layout", ["nchw", "nhwc", "nhwc8"])
def test_torch_ext_layout_packing_round_trips(layout):
    ext = _torch_ext()
    t = torch.randn(2, 5, 3, 4)
    buf = ext.pack(t, layout)
    assert buf.is_contiguous() and buf.shape[-1] == (8 if layout == "nhwc8" else (5 if layout == "nhwc" else 4))
    assert torch.equal(ext.unpack(buf, layout, 5), t)
    if layout == "nhwc8":
        assert torch.all(buf[..., 5:] == 0)


def test_torch_ext_needs_a_gpu(monkeypatch):
    ext = _torch_ext()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ext.load.cache_clear()
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        ext.load()


@pytest.fixture(scope="module")
def cuda_ext():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    return _torch_ext()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("layout", ["nchw", "nhwc", "nhwc8"])
@pytest.mark.parametrize("n,c,h,w,groups,ks,dil,scale,spread", CASES)
def test_gpu_matches_deform_sample(cuda_ext, host, dtype, layout, n, c, h, w, groups, ks, dil, scale, spread):
    np_dtype = np.float32 if dtype == torch.float32 else np.float16
    value, offset, mask = random_problem(c * h + w, n, c, h, w, groups, ks, spread, np_dtype)
    if layout == "nhwc8" and dtype == torch.float32:
        pytest.skip("NHWC8 is an fp16 layout (TensorRT kHWC8)")
    dev = [torch.from_numpy(a).cuda() for a in (value, offset, mask)]
    got = cuda_ext.mds_forward(*dev, groups, ks, dil, scale, layout=layout).cpu().numpy()
    ref = reference(value, offset, mask, groups, ks, dil, scale)
    assert_within(got, ref, "float32" if dtype == torch.float32 else "float16")
    # Same IEEE operations in the same order: the CPU reference is bit-exact.
    want, _ = run_host(host, value, offset, mask, groups, ks, dil, scale, layout)
    assert np.array_equal(got, want)


@pytest.mark.gpu
def test_gpu_matches_grid_sample_decomposition_on_cuda(cuda_ext):
    value, offset, mask = (torch.from_numpy(a).cuda() for a in random_problem(7, 2, 96, 33, 47, 4, 3, 3.0))
    got = cuda_ext.mds_forward(value, offset, mask, 4, 3, 1, 1.0)
    ref = deform_sample(value, offset, mask, 4, 3, 1, 1.0)
    torch.testing.assert_close(got, ref, rtol=TOL["float32"]["rtol"], atol=TOL["float32"]["atol"])
