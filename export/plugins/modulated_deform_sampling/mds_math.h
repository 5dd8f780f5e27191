// Modulated deformable sampling: the per-thread arithmetic, shared by the CUDA kernel and the
// CPU reference (mds_host.cpp).
//
// Compiled by nvcc, the functions are __host__ __device__ and the fp16 storage type is CUDA's
// __half. Compiled by a plain C++ compiler, they are ordinary inline functions and fp16 is the
// bit-exact software type MdsHalf (mds_half.h). Every multiply-add is an explicit fmaf and the CUDA
// code is built with --fmad=false, the host code with -ffp-contract=off, so both compilers
// perform the same IEEE operations in the same order: the CPU reference reproduces the GPU
// result bit for bit.
#pragma once

#include "mds_plan.h"

#include <cstdint>
#include <cstring>
#include <string.h>

// Unrolling hint for the device pass only (host compilers would warn about the pragma).
#if defined(__CUDA_ARCH__)
#define MDS_UNROLL _Pragma("unroll")
#else
#define MDS_UNROLL
#endif

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define MDS_HD __host__ __device__ __forceinline__
using MdsHalfStorage = __half;
#else
#include "mds_half.h"

#include <cmath>
#define MDS_HD inline
using MdsHalfStorage = MdsHalf;
#endif

// ---------------------------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------------------------

MDS_HD float mdsFma(float a, float b, float c)
{
#if defined(__CUDACC__)
    return fmaf(a, b, c);
#else
    return std::fma(a, b, c); // correctly rounded, like the GPU's FFMA
#endif
}

MDS_HD float mdsFloor(float v)
{
#if defined(__CUDACC__)
    return floorf(v);
#else
    return std::floor(v);
#endif
}


MDS_HD float mdsToFloat(float v)
{
    return v;
}

MDS_HD float mdsToFloat(MdsHalfStorage v)
{
#if defined(__CUDACC__)
    return __half2float(v);
#else
    return mdsHalfBitsToFloat(v.bits);
#endif
}

template <typename T>
MDS_HD T mdsFromFloat(float v);

template <>
MDS_HD float mdsFromFloat<float>(float v)
{
    return v;
}

template <>
MDS_HD MdsHalfStorage mdsFromFloat<MdsHalfStorage>(float v)
{
#if defined(__CUDACC__)
    return __float2half_rn(v);
#else
    return MdsHalf{mdsFloatToHalfBits(v)};
#endif
}

// ---------------------------------------------------------------------------------------------
// Vector memory access: N consecutive elements as one 2/4/8/16-byte transaction on the GPU.
// ---------------------------------------------------------------------------------------------

MDS_HD void mdsCopy(void* dst, void const* src, size_t bytes)
{
    memcpy(dst, src, bytes); // fixed small sizes: register moves on the GPU
}

template <int BYTES>
struct MdsRaw;
#if defined(__CUDACC__)
template <> struct MdsRaw<2> { using type = unsigned short; };
template <> struct MdsRaw<4> { using type = unsigned int; };
template <> struct MdsRaw<8> { using type = uint2; };
template <> struct MdsRaw<16> { using type = uint4; };
#else
template <int BYTES> struct MdsRaw { struct type { unsigned char b[BYTES]; }; };
#endif

//! Load N elements starting at p (aligned to N * sizeof(T), see mdsMakePlan) as floats.
template <typename T, int N>
MDS_HD void mdsLoad(T const* p, float (&out)[N])
{
    using Raw = typename MdsRaw<N * sizeof(T)>::type;
#if defined(__CUDA_ARCH__)
    Raw const raw = __ldg(reinterpret_cast<Raw const*>(p)); // read-only path, one LDG.E.{16..128}
#else
    Raw raw;
    std::memcpy(&raw, p, sizeof raw);
#endif
    T elems[N];
    mdsCopy(elems, &raw, sizeof elems); // register moves on the GPU
MDS_UNROLL
    for (int e = 0; e < N; ++e)
    {
        out[e] = mdsToFloat(elems[e]);
    }
}

template <typename T>
MDS_HD float mdsLoadOne(T const* p)
{
    float v[1];
    mdsLoad<T, 1>(p, v);
    return v[0];
}

//! Store N floats (rounded to T) at p, aligned like mdsLoad.
template <typename T, int N>
MDS_HD void mdsStore(T* p, float const (&in)[N])
{
    using Raw = typename MdsRaw<N * sizeof(T)>::type;
    T elems[N];
MDS_UNROLL
    for (int e = 0; e < N; ++e)
    {
        elems[e] = mdsFromFloat<T>(in[e]);
    }
    Raw raw;
    mdsCopy(&raw, elems, sizeof raw);
#if defined(__CUDA_ARCH__)
    *reinterpret_cast<Raw*>(p) = raw;
#else
    std::memcpy(p, &raw, sizeof raw);
#endif
}

// ---------------------------------------------------------------------------------------------
// Bilinear taps
// ---------------------------------------------------------------------------------------------

//! The four corners of one bilinear read: spatial element offsets inside the image (-1 when the
//! corner lies outside: it contributes zero) and weights already multiplied by the mask.
struct MdsTaps
{
    int32_t idx[4]; // (y0, x0), (y0, x1), (y1, x0), (y1, x1)
    float w[4];
};

//! Corners and weights of a read at (px, py), pixel centres at integer coordinates, zeros
//! outside the H x W image. Returns false when all four corners are outside (or px/py are not
//! finite): the read is zero and the caller skips it. Weights follow PyTorch's grid_sample:
//! (x0 + 1 - px) and (px - x0), both exact in fp32.
MDS_HD bool mdsBilinearTaps(float px, float py, float m, int32_t H, int32_t W, int32_t sy, int32_t sx, MdsTaps& t)
{
    // Written so that NaN fails the test; also keeps the float -> int conversions in range.
    if (!(px > -1.0f && px < static_cast<float>(W) && py > -1.0f && py < static_cast<float>(H)))
    {
        return false;
    }
    float const x0f = mdsFloor(px);
    float const y0f = mdsFloor(py);
    int32_t const x0 = static_cast<int32_t>(x0f);
    int32_t const y0 = static_cast<int32_t>(y0f);
    float const lx = px - x0f;
    float const hx = (x0f + 1.0f) - px;
    float const ly = py - y0f;
    float const hy = (y0f + 1.0f) - py;
    bool const inX0 = x0 >= 0;
    bool const inX1 = x0 + 1 < W;
    bool const inY0 = y0 >= 0;
    bool const inY1 = y0 + 1 < H;
    int32_t const r0 = y0 * sy;
    int32_t const r1 = r0 + sy;
    int32_t const c0 = x0 * sx;
    int32_t const c1 = c0 + sx;
    t.idx[0] = (inY0 && inX0) ? r0 + c0 : -1;
    t.idx[1] = (inY0 && inX1) ? r0 + c1 : -1;
    t.idx[2] = (inY1 && inX0) ? r1 + c0 : -1;
    t.idx[3] = (inY1 && inX1) ? r1 + c1 : -1;
    // Fold the modulation into the corner weights once per kernel point, not once per channel.
    t.w[0] = (hx * hy) * m;
    t.w[1] = (lx * hy) * m;
    t.w[2] = (hx * ly) * m;
    t.w[3] = (lx * ly) * m;
    return true;
}

// ---------------------------------------------------------------------------------------------
// One thread: up to kMdsChannelsPerThread channels of one (n, y, x, group)
// ---------------------------------------------------------------------------------------------

template <typename T>
struct MdsArgs
{
    T const* value;
    T const* offset;
    T const* mask;
    T* out;
    MdsShape shape;
    MdsPlan plan;
};

//! The work of thread `t` (0 <= t < plan.threads). VEC = plan.vec.
template <typename T, int VEC>
MDS_HD void mdsThread(MdsArgs<T> const& a, int64_t t)
{
    constexpr int CPT = kMdsChannelsPerThread;
    constexpr int NV = CPT / VEC; // vectors per thread
    static_assert(CPT % VEC == 0, "vector width must divide the channels per thread");
    MdsShape const& s = a.shape;
    MdsPlan const& p = a.plan;

    // Thread order. NCHW: x fastest, so a warp reads/writes consecutive addresses of one channel
    // plane. Channels-last: channel chunk fastest, so a warp reads consecutive vectors of one pixel.
    int32_t x, y, g, chunk;
    int64_t n;
    if (p.channelsLast)
    {
        chunk = static_cast<int32_t>(t % p.chunks); t /= p.chunks;
        g = static_cast<int32_t>(t % s.groups); t /= s.groups;
        x = static_cast<int32_t>(t % s.W); t /= s.W;
        y = static_cast<int32_t>(t % s.H); n = t / s.H;
    }
    else
    {
        x = static_cast<int32_t>(t % s.W); t /= s.W;
        y = static_cast<int32_t>(t % s.H); t /= s.H;
        chunk = static_cast<int32_t>(t % p.chunks); t /= p.chunks;
        g = static_cast<int32_t>(t % s.groups); n = t / s.groups;
    }
    int32_t const c0 = chunk * CPT;                           // first channel within the group
    int32_t const cn = p.Cg - c0 < CPT ? p.Cg - c0 : CPT;     // a multiple of VEC (plan)
    int32_t const cFirst = g * p.Cg + c0;

    T const* v = a.value + n * p.value.n + cFirst * p.value.c;
    T const* off = a.offset + n * p.offset.n + y * p.offset.y + x * p.offset.x + (g * p.K * 2) * p.offset.c;
    T const* msk = a.mask + n * p.mask.n + y * p.mask.y + x * p.mask.x + (g * p.K) * p.mask.c;

    float acc[CPT];
MDS_UNROLL
    for (int i = 0; i < CPT; ++i)
    {
        acc[i] = 0.0f;
    }
    float const centre = 0.5f * static_cast<float>(s.kernelSize - 1);
    float const dil = static_cast<float>(s.dilation);

    for (int32_t k = 0; k < p.K; ++k)
    {
        // This (position, group, point)'s offsets and mask: loaded once, used for all CPT channels.
        float d[2];
        if (p.pairedOffsets)
        {
            mdsLoad<T, 2>(off + 2 * k, d); // channels-last: (dx, dy) adjacent, one 2-element load
        }
        else
        {
            d[0] = mdsLoadOne(off + (2 * k) * p.offset.c);
            d[1] = mdsLoadOne(off + (2 * k + 1) * p.offset.c);
        }
        float const m = mdsLoadOne(msk + k * p.mask.c);
        int32_t const ky = k / s.kernelSize;
        int32_t const kx = k - ky * s.kernelSize;
        // Grid point p + dilation * (k - centre) is exact in fp32; then one fma adds the offset.
        float const px = mdsFma(s.offsetScale, d[0], static_cast<float>(x) + (static_cast<float>(kx) - centre) * dil);
        float const py = mdsFma(s.offsetScale, d[1], static_cast<float>(y) + (static_cast<float>(ky) - centre) * dil);
        MdsTaps taps;
        if (!mdsBilinearTaps(px, py, m, s.H, s.W, p.value.y, p.value.x, taps))
        {
            continue;
        }
MDS_UNROLL
        for (int q = 0; q < 4; ++q)
        {
            if (taps.idx[q] < 0)
            {
                continue;
            }
            T const* src = v + taps.idx[q];
MDS_UNROLL
            for (int j = 0; j < NV; ++j)
            {
                if (j * VEC < cn)
                {
                    float val[VEC];
                    // VEC > 1 only in channels-last layouts, where the channel stride is 1.
                    mdsLoad<T, VEC>(src + (VEC == 1 ? j * p.value.c : j * VEC), val);
MDS_UNROLL
                    for (int e = 0; e < VEC; ++e)
                    {
                        acc[j * VEC + e] = mdsFma(taps.w[q], val[e], acc[j * VEC + e]);
                    }
                }
            }
        }
    }

    T* o = a.out + n * p.out.n + y * p.out.y + x * p.out.x + cFirst * p.out.c;
MDS_UNROLL
    for (int j = 0; j < NV; ++j)
    {
        if (j * VEC < cn)
        {
            float val[VEC];
MDS_UNROLL
            for (int e = 0; e < VEC; ++e)
            {
                val[e] = acc[j * VEC + e];
            }
            mdsStore<T, VEC>(o + (VEC == 1 ? j * p.out.c : j * VEC), val);
        }
    }
    // NHWC8: the last thread of a pixel zero-fills the channel padding, so no garbage (or NaN)
    // reaches a consumer that reads the padded vector.
    if (p.outPitch > s.C && g == s.groups - 1 && chunk == p.chunks - 1)
    {
        T* pad = a.out + n * p.out.n + y * p.out.y + x * p.out.x;
        for (int32_t c = s.C; c < p.outPitch; ++c)
        {
            pad[c] = mdsFromFloat<T>(0.0f);
        }
    }
}
