// IEEE binary16 for host code: storage type and the exact conversions CUDA's __half2float and
// __float2half_rn perform, so the CPU reference (mds_host.cpp) computes what the GPU computes.
// Plain C++; tested against NumPy's float16 in tests/export/test_plugin_kernel.py.
#pragma once

#include <cstdint>
#include <cstring>

//! fp16 storage for host code: the IEEE binary16 bits.
struct MdsHalf
{
    uint16_t bits;
};

//! binary16 -> binary32, exact (subnormals, infinities and NaN included).
inline float mdsHalfBitsToFloat(uint16_t h)
{
    uint32_t const sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1fu)
    {
        bits = sign | 0x7f800000u | (man << 13);
    }
    else if (exp != 0)
    {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    else if (man == 0)
    {
        bits = sign;
    }
    else
    {
        // Subnormal half: normalise the significand.
        exp = 113u;
        while ((man & 0x400u) == 0)
        {
            man <<= 1;
            --exp;
        }
        bits = sign | (exp << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

//! binary32 -> binary16, round to nearest even (what __float2half_rn does).
inline uint16_t mdsFloatToHalfBits(float f)
{
    uint32_t x;
    std::memcpy(&x, &f, sizeof x);
    uint16_t const sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
    uint32_t const e = (x >> 23) & 0xffu;
    uint32_t const man = x & 0x7fffffu;
    if (e == 0xffu)
    {
        // Infinity stays infinity; NaN stays a (quiet) NaN.
        return static_cast<uint16_t>(sign | 0x7c00u | (man != 0 ? 0x200u | (man >> 13) : 0u));
    }
    if (e >= 143u) // |f| >= 65536: beyond the largest half even before rounding
    {
        return static_cast<uint16_t>(sign | 0x7c00u);
    }
    if (e >= 113u) // normal half range (|f| >= 2^-14)
    {
        uint32_t h = ((e - 112u) << 10) | (man >> 13);
        uint32_t const rest = man & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
        {
            ++h; // may carry into the exponent, up to infinity: correct
        }
        return static_cast<uint16_t>(sign | h);
    }
    if (e < 102u) // |f| < 2^-25: rounds to zero
    {
        return sign;
    }
    // Subnormal half: value = sig * 2^(e - 150), half unit = 2^-24.
    uint32_t const sig = man | 0x800000u;
    uint32_t const shift = 126u - e; // 14 .. 24
    uint32_t h = sig >> shift;
    uint32_t const rest = sig & ((1u << shift) - 1u);
    uint32_t const halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (h & 1u)))
    {
        ++h;
    }
    return static_cast<uint16_t>(sign | h);
}
