// CPU reference of the CUDA kernel: the same plan (mds_plan.h) and the same per-thread code
// (mds_math.h), run thread by thread. Built with a plain C++ compiler (-ffp-contract=off) into a
// small shared library that tests load with ctypes; also linked into the plugin check program
// (plugin_check.cpp) as a stand-in for the GPU.
//
// C ABI (return value: MdsStatus):
//   mds_host_forward(value, offset, mask, out, N, C, H, W, groups, kernel_size, dilation,
//                    offset_scale, dtype, layout)      host pointers, layouts as in mds_plan.h
//   mds_host_plan(..., address_bits, int32 out[4] = {vec, chunks, channels_per_thread, paired},
//                 int64* threads)                       the plan the GPU would use
//   mds_host_float_to_half / mds_host_half_to_float     the fp16 conversions, for tests
#include "mds_math.h"

#include <cstdint>

namespace
{

template <typename T, int VEC>
void runThreads(MdsArgs<T> const& args)
{
    for (int64_t t = 0; t < args.plan.threads; ++t)
    {
        mdsThread<T, VEC>(args, t);
    }
}

template <typename T>
MdsStatus run(void const* value, void const* offset, void const* mask, void* out, MdsShape const& shape,
    MdsPlan const& plan)
{
    MdsArgs<T> const args{static_cast<T const*>(value), static_cast<T const*>(offset), static_cast<T const*>(mask),
        static_cast<T*>(out), shape, plan};
    switch (plan.vec)
    {
    case 1: runThreads<T, 1>(args); return kMDS_OK;
    case 2: runThreads<T, 2>(args); return kMDS_OK;
    case 4: runThreads<T, 4>(args); return kMDS_OK;
    case 8:
        if constexpr (sizeof(T) == 2)
        {
            runThreads<T, 8>(args);
            return kMDS_OK;
        }
        return kMDS_BAD_LAYOUT;
    default: return kMDS_BAD_LAYOUT;
    }
}

uint64_t addressBitsOf(void const* a, void const* b, void const* c, void const* d)
{
    return reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b) | reinterpret_cast<uintptr_t>(c)
        | reinterpret_cast<uintptr_t>(d);
}

} // namespace

//! C++ entry with the launch function's argument order (used by plugin_check.cpp).
MdsStatus mdsHostForward(void const* value, void const* offset, void const* mask, void* out, int32_t N, int32_t C,
    int32_t H, int32_t W, int32_t groups, int32_t kernelSize, int32_t dilation, float offsetScale, MdsDataType dtype,
    MdsLayout layout)
{
    MdsShape const shape{N, C, H, W, groups, kernelSize, dilation, offsetScale};
    MdsPlan plan;
    MdsStatus const status = mdsMakePlan(shape, dtype, layout, addressBitsOf(value, offset, mask, out), &plan);
    if (status != kMDS_OK)
    {
        return status;
    }
    if (dtype == kMDS_FLOAT32)
    {
        return run<float>(value, offset, mask, out, shape, plan);
    }
    return run<MdsHalfStorage>(value, offset, mask, out, shape, plan);
}

extern "C"
{

int32_t mds_host_forward(void const* value, void const* offset, void const* mask, void* out, int32_t N, int32_t C,
    int32_t H, int32_t W, int32_t groups, int32_t kernel_size, int32_t dilation, float offset_scale, int32_t dtype,
    int32_t layout)
{
    return mdsHostForward(value, offset, mask, out, N, C, H, W, groups, kernel_size, dilation, offset_scale,
        static_cast<MdsDataType>(dtype), static_cast<MdsLayout>(layout));
}

int32_t mds_host_plan(int32_t N, int32_t C, int32_t H, int32_t W, int32_t groups, int32_t kernel_size,
    int32_t dilation, float offset_scale, int32_t dtype, int32_t layout, uint64_t address_bits, int32_t* info,
    int64_t* threads)
{
    MdsShape const shape{N, C, H, W, groups, kernel_size, dilation, offset_scale};
    MdsPlan plan;
    MdsStatus const status = mdsMakePlan(
        shape, static_cast<MdsDataType>(dtype), static_cast<MdsLayout>(layout), address_bits, &plan);
    if (status == kMDS_OK)
    {
        info[0] = plan.vec;
        info[1] = plan.chunks;
        info[2] = kMdsChannelsPerThread;
        info[3] = plan.pairedOffsets ? 1 : 0;
        *threads = plan.threads;
    }
    return status;
}

void mds_host_float_to_half(float const* src, uint16_t* dst, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
    {
        dst[i] = mdsFloatToHalfBits(src[i]);
    }
}

void mds_host_half_to_float(uint16_t const* src, float* dst, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
    {
        dst[i] = mdsHalfBitsToFloat(src[i]);
    }
}

} // extern "C"
