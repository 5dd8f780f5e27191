// Modulated deformable sampling: the plain CUDA launch interface (no TensorRT types).
//
// Used by the TensorRT plugin (ModulatedDeformSamplingPlugin.cpp) and the PyTorch extension
// (torch_ext.cpp). Includable from ordinary C++ translation units.
#pragma once

#include "mds_plan.h"

#include <cuda_runtime_api.h>

//! out[n, c, p] = sum_k mask[n, g, k, p] * bilinear(value[n, c], p + dilation * (k - centre)
//!                                                    + offsetScale * offset[n, g, k, :, p])
//! with g = c / (C / G), zeros outside the image, pixel centres at integer coordinates.
//!
//! Logical shapes: value and out (N, C, H, W); offset (N, G*K*2, H, W) ordered (g, k, (dx, dy));
//! mask (N, G*K, H, W) ordered (g, k); K = kernelSize^2 points, row-major. All four tensors
//! have the same data type and layout (see MdsLayout); device pointers.
//!
//! \return cudaErrorInvalidValue for an invalid problem (see mdsMakePlan), else the launch status.
//!         Asynchronous: execution errors surface at the next synchronising call.
cudaError_t launchModulatedDeformSampling(void const* value, void const* offset, void const* mask, void* out,
    int32_t N, int32_t C, int32_t H, int32_t W, int32_t groups, int32_t kernelSize, int32_t dilation,
    float offsetScale, MdsDataType dtype, MdsLayout layout, cudaStream_t stream);

//! cudaGetErrorString, kept here so that callers need no CUDA runtime symbols of their own.
char const* mdsCudaErrorString(cudaError_t status);
