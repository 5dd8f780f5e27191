// PyTorch binding of the plugin's CUDA kernel (built by torch_ext.py with
// torch.utils.cpp_extension.load). Raw-buffer interface: the Python side arranges the layout,
// this file only checks sizes and launches on the stream it is given.
#include "mds_kernel.cuh"

#include <torch/extension.h>

#include <cstdint>
#include <initializer_list>

namespace
{

void launch(torch::Tensor const& value, torch::Tensor const& offset, torch::Tensor const& mask,
    torch::Tensor const& out, std::vector<int64_t> const& shape, int64_t groups, int64_t kernelSize,
    int64_t dilation, double offsetScale, int64_t layout, int64_t stream)
{
    TORCH_CHECK(shape.size() == 4, "shape must be (N, C, H, W)");
    for (torch::Tensor const* t : std::initializer_list<torch::Tensor const*>{&value, &offset, &mask, &out})
    {
        TORCH_CHECK(t->is_cuda(), "all tensors must be CUDA tensors");
        TORCH_CHECK(t->is_contiguous(), "all buffers must be contiguous (the layout is given separately)");
        TORCH_CHECK(t->scalar_type() == value.scalar_type(), "value, offset, mask and out must share a dtype");
        TORCH_CHECK(t->device() == value.device(), "all tensors must be on one device");
    }
    TORCH_CHECK(value.scalar_type() == torch::kFloat32 || value.scalar_type() == torch::kFloat16,
        "dtype must be float32 or float16");
    TORCH_CHECK(layout >= kMDS_NCHW && layout <= kMDS_NHWC8, "layout must be 0 (NCHW), 1 (NHWC) or 2 (NHWC8)");
    auto const N = static_cast<int32_t>(shape[0]), C = static_cast<int32_t>(shape[1]);
    auto const H = static_cast<int32_t>(shape[2]), W = static_cast<int32_t>(shape[3]);
    auto const G = static_cast<int32_t>(groups), ks = static_cast<int32_t>(kernelSize);
    auto const lay = static_cast<MdsLayout>(layout);
    int64_t const k = static_cast<int64_t>(ks) * ks;
    TORCH_CHECK(value.numel() == mdsTensorElems(lay, N, C, H, W), "value buffer has the wrong size");
    TORCH_CHECK(out.numel() == mdsTensorElems(lay, N, C, H, W), "out buffer has the wrong size");
    TORCH_CHECK(offset.numel() == mdsTensorElems(lay, N, static_cast<int32_t>(2 * G * k), H, W),
        "offset buffer has the wrong size (N, groups*kernel_size^2*2, H, W)");
    TORCH_CHECK(mask.numel() == mdsTensorElems(lay, N, static_cast<int32_t>(G * k), H, W),
        "mask buffer has the wrong size (N, groups*kernel_size^2, H, W)");
    MdsDataType const dtype = value.scalar_type() == torch::kFloat16 ? kMDS_FLOAT16 : kMDS_FLOAT32;
    cudaError_t const status = launchModulatedDeformSampling(value.data_ptr(), offset.data_ptr(), mask.data_ptr(),
        out.data_ptr(), N, C, H, W, G, ks, static_cast<int32_t>(dilation), static_cast<float>(offsetScale), dtype,
        lay, reinterpret_cast<cudaStream_t>(static_cast<uintptr_t>(stream)));
    TORCH_CHECK(status == cudaSuccess, "launchModulatedDeformSampling: ", mdsCudaErrorString(status));
}

} // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m)
{
    m.doc() = "edgecodec modulated deformable sampling: the TensorRT plugin's CUDA kernel";
    m.def("launch", &launch, "Run the kernel on raw buffers (see torch_ext.py)", py::arg("value"),
        py::arg("offset"), py::arg("mask"), py::arg("out"), py::arg("shape"), py::arg("groups"),
        py::arg("kernel_size"), py::arg("dilation"), py::arg("offset_scale"), py::arg("layout"), py::arg("stream"));
}
