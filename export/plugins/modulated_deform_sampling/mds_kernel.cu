// Modulated deformable sampling: CUDA kernel and launch function.
//
// One thread computes up to kMdsChannelsPerThread channels of one (n, y, x, group): it reads
// the group's K offsets and mask values once, computes each kernel point's bilinear corners
// and mask-scaled weights once, and reuses them for all its channels (DCNv4's memory-efficient
// scheme). The arithmetic lives in mds_math.h, shared with the CPU reference. Build with
// --fmad=false: all intended multiply-adds are explicit fmaf, and this keeps nvcc from
// contracting the rest, so the CPU reference matches bit for bit.
#include "mds_kernel.cuh"
#include "mds_math.h"

namespace
{

constexpr int kBlockSize = 256;

template <typename T, int VEC>
__global__ void __launch_bounds__(kBlockSize) mdsKernel(MdsArgs<T> const args)
{
    int64_t const t = static_cast<int64_t>(blockIdx.x) * kBlockSize + threadIdx.x;
    if (t < args.plan.threads)
    {
        mdsThread<T, VEC>(args, t);
    }
}

template <typename T>
cudaError_t dispatch(MdsArgs<T> const& args, cudaStream_t stream)
{
    int64_t const blocks = (args.plan.threads + kBlockSize - 1) / kBlockSize;
    if (blocks > INT32_MAX)
    {
        return cudaErrorInvalidConfiguration;
    }
    dim3 const grid(static_cast<unsigned int>(blocks));
    switch (args.plan.vec)
    {
    case 1: mdsKernel<T, 1><<<grid, kBlockSize, 0, stream>>>(args); break;
    case 2: mdsKernel<T, 2><<<grid, kBlockSize, 0, stream>>>(args); break;
    case 4: mdsKernel<T, 4><<<grid, kBlockSize, 0, stream>>>(args); break;
    case 8:
        // 16-byte vectors of 8 halves; mdsMakePlan never picks 8 for fp32.
        if constexpr (sizeof(T) == 2)
        {
            mdsKernel<T, 8><<<grid, kBlockSize, 0, stream>>>(args);
            break;
        }
        return cudaErrorInvalidValue;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

template <typename T>
MdsArgs<T> makeArgs(void const* value, void const* offset, void const* mask, void* out, MdsShape const& shape,
    MdsPlan const& plan)
{
    return MdsArgs<T>{static_cast<T const*>(value), static_cast<T const*>(offset), static_cast<T const*>(mask),
        static_cast<T*>(out), shape, plan};
}

} // namespace

cudaError_t launchModulatedDeformSampling(void const* value, void const* offset, void const* mask, void* out,
    int32_t N, int32_t C, int32_t H, int32_t W, int32_t groups, int32_t kernelSize, int32_t dilation,
    float offsetScale, MdsDataType dtype, MdsLayout layout, cudaStream_t stream)
{
    MdsShape const shape{N, C, H, W, groups, kernelSize, dilation, offsetScale};
    uint64_t const addressBits = reinterpret_cast<uintptr_t>(value) | reinterpret_cast<uintptr_t>(offset)
        | reinterpret_cast<uintptr_t>(mask) | reinterpret_cast<uintptr_t>(out);
    MdsPlan plan;
    if (mdsMakePlan(shape, dtype, layout, addressBits, &plan) != kMDS_OK)
    {
        return cudaErrorInvalidValue;
    }
    if (plan.threads == 0)
    {
        return cudaSuccess;
    }
    if (dtype == kMDS_FLOAT32)
    {
        return dispatch(makeArgs<float>(value, offset, mask, out, shape, plan), stream);
    }
    return dispatch(makeArgs<MdsHalfStorage>(value, offset, mask, out, shape, plan), stream);
}

char const* mdsCudaErrorString(cudaError_t status)
{
    return cudaGetErrorString(status);
}
