// Modulated deformable sampling: public enums and the launch plan.
//
// Plain C++ (no CUDA, no TensorRT): included by the CUDA kernel, the host reference,
// the TensorRT plugin and the PyTorch extension, so all of them agree on how a problem
// is split into threads and which vector width is used.
#pragma once

#include <cmath>
#include <cstdint>

//! Element type of all four tensors (value, offset, mask, output).
enum MdsDataType : int32_t
{
    kMDS_FLOAT32 = 0,
    kMDS_FLOAT16 = 1, //!< IEEE half storage, fp32 arithmetic and accumulation
};

//! Memory layout of all four tensors (logical shapes are always (N, C, H, W)).
enum MdsLayout : int32_t
{
    kMDS_NCHW = 0,  //!< channels first, TensorRT kLINEAR
    kMDS_NHWC = 1,  //!< channels last, unpadded (PyTorch channels_last, TensorRT kHWC)
    kMDS_NHWC8 = 2, //!< channels last, channel pitch rounded up to 8 (TensorRT kHWC8)
};

enum MdsStatus : int32_t
{
    kMDS_OK = 0,
    kMDS_BAD_SHAPE = 1,     //!< non-positive size, C not divisible by groups
    kMDS_BAD_ATTRIBUTE = 2, //!< groups / kernel_size / dilation / offset_scale out of range
    kMDS_BAD_LAYOUT = 3,    //!< unknown layout or data type
    kMDS_TOO_LARGE = 4,     //!< one image of a tensor exceeds 2^31 - 1 elements
};

inline char const* mdsStatusString(MdsStatus s)
{
    switch (s)
    {
    case kMDS_OK: return "ok";
    case kMDS_BAD_SHAPE: return "bad shape (sizes must be positive and C divisible by groups)";
    case kMDS_BAD_ATTRIBUTE:
        return "bad attribute (groups >= 1, 1 <= kernel_size <= 15, dilation >= 1, finite offset_scale)";
    case kMDS_BAD_LAYOUT: return "unknown layout or data type";
    case kMDS_TOO_LARGE: return "tensor too large (one image must hold fewer than 2^31 elements)";
    }
    return "unknown status";
}

//! Problem description; all four tensors share N, H, W.
struct MdsShape
{
    int32_t N, C, H, W;
    int32_t groups, kernelSize, dilation;
    float offsetScale;
};

//! Element strides of one tensor. The batch stride is 64-bit; everything inside one image
//! fits in 32 bits (checked by mdsMakePlan).
struct MdsStrides
{
    int64_t n;
    int32_t c, y, x;
};

//! How the work is split; produced by mdsMakePlan, consumed by the kernel and the host reference.
struct MdsPlan
{
    int32_t Cg;           //!< channels per group
    int32_t K;            //!< kernel points, kernelSize^2
    int32_t vec;          //!< channels per vector load/store (1 for NCHW)
    int32_t chunks;       //!< threads per (n, position, group) = ceil(Cg / kMdsChannelsPerThread)
    bool channelsLast;    //!< thread order: channel chunk fastest (NHWC) or x fastest (NCHW)
    bool pairedOffsets;   //!< (dx, dy) adjacent and 2-element aligned: one paired load
    int32_t outPitch;     //!< output channel pitch (> C only for NHWC8: padding is zero-filled)
    MdsStrides value, offset, mask, out;
    int64_t threads;      //!< N * H * W * groups * chunks
};

//! Channels handled by one thread. 8 keeps 8 fp32 accumulators in registers and is one
//! 16-byte vector for fp16 (two for fp32) in channels-last layouts.
constexpr int32_t kMdsChannelsPerThread = 8;
constexpr int32_t kMdsMaxKernelSize = 15;

inline int32_t mdsChannelPitch(MdsLayout layout, int32_t channels)
{
    return layout == kMDS_NHWC8 ? (channels + 7) / 8 * 8 : channels;
}

//! Number of elements of a tensor with `channels` channels in `layout` (padding included).
inline int64_t mdsTensorElems(MdsLayout layout, int32_t N, int32_t channels, int32_t H, int32_t W)
{
    return static_cast<int64_t>(N) * mdsChannelPitch(layout, channels) * H * W;
}

inline MdsStrides mdsStrides(MdsLayout layout, int32_t channels, int32_t H, int32_t W)
{
    int32_t const pitch = mdsChannelPitch(layout, channels);
    int64_t const image = static_cast<int64_t>(pitch) * H * W;
    if (layout == kMDS_NCHW)
    {
        return MdsStrides{image, H * W, W, 1};
    }
    return MdsStrides{image, 1, W * pitch, pitch};
}

//! Build the plan. `addressBits` is the OR of the four base addresses: vector loads are only
//! chosen when every base pointer is aligned to the vector size.
inline MdsStatus mdsMakePlan(
    MdsShape const& s, MdsDataType dtype, MdsLayout layout, uint64_t addressBits, MdsPlan* plan)
{
    if (dtype != kMDS_FLOAT32 && dtype != kMDS_FLOAT16)
    {
        return kMDS_BAD_LAYOUT;
    }
    if (layout != kMDS_NCHW && layout != kMDS_NHWC && layout != kMDS_NHWC8)
    {
        return kMDS_BAD_LAYOUT;
    }
    if (s.groups < 1 || s.kernelSize < 1 || s.kernelSize > kMdsMaxKernelSize || s.dilation < 1
        || !std::isfinite(s.offsetScale))
    {
        return kMDS_BAD_ATTRIBUTE;
    }
    if (s.N < 0 || s.C < 1 || s.H < 0 || s.W < 0 || s.C % s.groups != 0)
    {
        return kMDS_BAD_SHAPE;
    }
    int32_t const K = s.kernelSize * s.kernelSize;
    int64_t const kLimit = INT32_MAX;
    int64_t const hw = static_cast<int64_t>(s.H) * s.W;
    int64_t const widest = (s.C > 2 * s.groups * K ? s.C : 2 * s.groups * K) + 7;
    if (hw * widest > kLimit)
    {
        return kMDS_TOO_LARGE;
    }

    MdsPlan p{};
    p.Cg = s.C / s.groups;
    p.K = K;
    p.channelsLast = layout != kMDS_NCHW;
    p.value = mdsStrides(layout, s.C, s.H, s.W);
    p.out = p.value;
    p.offset = mdsStrides(layout, 2 * s.groups * K, s.H, s.W);
    p.mask = mdsStrides(layout, s.groups * K, s.H, s.W);
    p.outPitch = mdsChannelPitch(layout, s.C);
    p.chunks = (p.Cg + kMdsChannelsPerThread - 1) / kMdsChannelsPerThread;

    int32_t const elemBytes = dtype == kMDS_FLOAT16 ? 2 : 4;
    p.vec = 1;
    if (p.channelsLast)
    {
        // Widest vector (16 bytes at most) dividing the group width and the channel pitch,
        // with every base pointer aligned: each thread's channel run then starts aligned.
        for (int32_t v = 16 / elemBytes; v > 1; v /= 2)
        {
            if (p.Cg % v == 0 && p.outPitch % v == 0 && (addressBits % static_cast<uint64_t>(v * elemBytes)) == 0)
            {
                p.vec = v;
                break;
            }
        }
        // dx, dy sit next to each other at an even channel index; the offset pitch is even.
        p.pairedOffsets = (addressBits % static_cast<uint64_t>(2 * elemBytes)) == 0;
    }
    p.threads = static_cast<int64_t>(s.N) * hw * s.groups * p.chunks;
    *plan = p;
    return kMDS_OK;
}
