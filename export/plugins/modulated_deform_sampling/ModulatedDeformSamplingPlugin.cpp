// TensorRT IPluginV3 plugin for modulated deformable sampling: the plugin object (build and
// runtime capabilities). The creator and the library entry points are in
// ModulatedDeformSamplingCreator.cpp. Every TensorRT entry point is noexcept: failures are logged
// and reported with a non-zero status or nullptr.
#include "ModulatedDeformSamplingPlugin.h"

#include "mds_kernel.cuh"

#include <exception>
#include <sstream>

using namespace nvinfer1;

namespace edgecodec
{
namespace plugin
{
namespace
{

constexpr int32_t kNB_INPUTS{3};

// -- shapes -----------------------------------------------------------------------------------

//! Check the three input shapes against the attributes. Dimensions may be -1 (unknown at build
//! time); only known ones are compared. Returns an empty string when consistent.
std::string shapeError(Dims const& value, Dims const& offset, Dims const& mask, MdsAttributes const& a)
{
    if (value.nbDims != 4 || offset.nbDims != 4 || mask.nbDims != 4)
    {
        return "value, offset and mask must be 4-D (N, C, H, W)";
    }
    auto differ = [](int64_t x, int64_t y) { return x >= 0 && y >= 0 && x != y; };
    int64_t const k = static_cast<int64_t>(a.kernelSize) * a.kernelSize;
    std::ostringstream why;
    if (value.d[1] >= 0 && value.d[1] % a.groups != 0)
    {
        why << "value has " << value.d[1] << " channels, not divisible by groups=" << a.groups;
    }
    else if (differ(offset.d[1], 2 * a.groups * k))
    {
        why << "offset has " << offset.d[1] << " channels, expected groups*kernel_size^2*2 = " << 2 * a.groups * k;
    }
    else if (differ(mask.d[1], a.groups * k))
    {
        why << "mask has " << mask.d[1] << " channels, expected groups*kernel_size^2 = " << a.groups * k;
    }
    else
    {
        for (int32_t axis : {0, 2, 3})
        {
            if (differ(value.d[axis], offset.d[axis]) || differ(value.d[axis], mask.d[axis]))
            {
                why << "value, offset and mask differ in dimension " << axis << " (N, H and W must match)";
                break;
            }
        }
    }
    return why.str();
}

MdsLayout layoutOf(TensorFormat format)
{
    return format == TensorFormat::kHWC8 ? kMDS_NHWC8 : kMDS_NCHW;
}

} // namespace

// =============================================================================================
// ModulatedDeformSamplingPlugin
// =============================================================================================

ModulatedDeformSamplingPlugin::ModulatedDeformSamplingPlugin(MdsAttributes const& attributes)
    : mAttributes(attributes)
{
    std::ostringstream d;
    d << "groups=" << mAttributes.groups << ";kernel_size=" << mAttributes.kernelSize
      << ";dilation=" << mAttributes.dilation << ";offset_scale=" << mAttributes.offsetScale;
    mDescription = d.str();
    initFieldsToSerialize();
}

ModulatedDeformSamplingPlugin::ModulatedDeformSamplingPlugin(ModulatedDeformSamplingPlugin const& other)
    : IPluginV3(other)
    , IPluginV3OneCore(other)
    , IPluginV3OneBuild(other)
    , IPluginV3OneRuntime(other)
    , mAttributes(other.mAttributes)
    , mDescription(other.mDescription)
{
    initFieldsToSerialize(); // the copied fields would point into `other`
}

void ModulatedDeformSamplingPlugin::initFieldsToSerialize()
{
    mFields = {PluginField{kMDS_GROUPS, &mAttributes.groups, PluginFieldType::kINT32, 1},
        PluginField{kMDS_KERNEL_SIZE, &mAttributes.kernelSize, PluginFieldType::kINT32, 1},
        PluginField{kMDS_DILATION, &mAttributes.dilation, PluginFieldType::kINT32, 1},
        PluginField{kMDS_OFFSET_SCALE, &mAttributes.offsetScale, PluginFieldType::kFLOAT32, 1}};
    mFieldCollection.nbFields = static_cast<int32_t>(mFields.size());
    mFieldCollection.fields = mFields.data();
}

IPluginCapability* ModulatedDeformSamplingPlugin::getCapabilityInterface(PluginCapabilityType type) noexcept
{
    switch (type)
    {
    case PluginCapabilityType::kCORE: return static_cast<IPluginV3OneCore*>(this);
    case PluginCapabilityType::kBUILD: return static_cast<IPluginV3OneBuild*>(this);
    case PluginCapabilityType::kRUNTIME: return static_cast<IPluginV3OneRuntime*>(this);
    }
    return nullptr;
}

IPluginV3* ModulatedDeformSamplingPlugin::clone() noexcept
{
    try
    {
        return new ModulatedDeformSamplingPlugin(*this);
    }
    catch (std::exception const& e)
    {
        logMessage(ILogger::Severity::kERROR, std::string{"clone failed: "} + e.what());
    }
    return nullptr;
}

char const* ModulatedDeformSamplingPlugin::getPluginName() const noexcept
{
    return kMDS_PLUGIN_NAME;
}

char const* ModulatedDeformSamplingPlugin::getPluginVersion() const noexcept
{
    return kMDS_PLUGIN_VERSION;
}

char const* ModulatedDeformSamplingPlugin::getPluginNamespace() const noexcept
{
    return kMDS_PLUGIN_NAMESPACE;
}

int32_t ModulatedDeformSamplingPlugin::configurePlugin(
    DynamicPluginTensorDesc const* in, int32_t nbInputs, DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept
{
    if (in == nullptr || out == nullptr || nbInputs != kNB_INPUTS || nbOutputs != 1)
    {
        logMessage(ILogger::Severity::kERROR, "expects 3 inputs (value, offset, mask) and 1 output");
        return -1;
    }
    std::string const why = shapeError(in[0].desc.dims, in[1].desc.dims, in[2].desc.dims, mAttributes);
    if (!why.empty())
    {
        logMessage(ILogger::Severity::kERROR, why);
        return -1;
    }
    return 0;
}

int32_t ModulatedDeformSamplingPlugin::getOutputDataTypes(
    DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (outputTypes == nullptr || inputTypes == nullptr || nbOutputs != 1 || nbInputs != kNB_INPUTS)
    {
        return -1;
    }
    outputTypes[0] = inputTypes[0];
    return 0;
}

int32_t ModulatedDeformSamplingPlugin::getOutputShapes(DimsExprs const* inputs, int32_t nbInputs,
    DimsExprs const* /*shapeInputs*/, int32_t /*nbShapeInputs*/, DimsExprs* outputs, int32_t nbOutputs,
    IExprBuilder& /*exprBuilder*/) noexcept
{
    if (inputs == nullptr || outputs == nullptr || nbInputs != kNB_INPUTS || nbOutputs != 1 || inputs[0].nbDims != 4)
    {
        logMessage(ILogger::Severity::kERROR, "expects 4-D value, offset and mask and one output");
        return -1;
    }
    outputs[0] = inputs[0]; // output shape = value shape, expression for expression
    return 0;
}

bool ModulatedDeformSamplingPlugin::supportsFormatCombination(
    int32_t pos, DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (inOut == nullptr || nbInputs != kNB_INPUTS || nbOutputs != 1 || pos < 0 || pos >= kNB_INPUTS + 1)
    {
        return false;
    }
    PluginTensorDesc const& desc = inOut[pos].desc;
    if (pos == 0)
    {
        // fp32 NCHW; fp16 NCHW or HWC8 (the channels-last format of TensorRT's fp16 convolutions,
        // where the kernel uses 16-byte vector loads).
        return (desc.type == DataType::kFLOAT && desc.format == TensorFormat::kLINEAR)
            || (desc.type == DataType::kHALF
                && (desc.format == TensorFormat::kLINEAR || desc.format == TensorFormat::kHWC8));
    }
    // offset, mask and output follow the value tensor.
    return desc.type == inOut[0].desc.type && desc.format == inOut[0].desc.format;
}

int32_t ModulatedDeformSamplingPlugin::getNbOutputs() const noexcept
{
    return 1;
}

size_t ModulatedDeformSamplingPlugin::getWorkspaceSize(DynamicPluginTensorDesc const* /*inputs*/,
    int32_t /*nbInputs*/, DynamicPluginTensorDesc const* /*outputs*/, int32_t /*nbOutputs*/) const noexcept
{
    return 0;
}

char const* ModulatedDeformSamplingPlugin::getTimingCacheID() noexcept
{
    return mDescription.c_str(); // shapes and formats are added by TensorRT
}

char const* ModulatedDeformSamplingPlugin::getMetadataString() noexcept
{
    return mDescription.c_str();
}

int32_t ModulatedDeformSamplingPlugin::onShapeChange(
    PluginTensorDesc const* in, int32_t nbInputs, PluginTensorDesc const* out, int32_t nbOutputs) noexcept
{
    if (in == nullptr || out == nullptr || nbInputs != kNB_INPUTS || nbOutputs != 1)
    {
        return -1;
    }
    std::string const why = shapeError(in[0].dims, in[1].dims, in[2].dims, mAttributes);
    if (!why.empty())
    {
        logMessage(ILogger::Severity::kERROR, why);
        return -1;
    }
    return 0;
}

int32_t ModulatedDeformSamplingPlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* outputDesc,
    void const* const* inputs, void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept
{
    if (inputDesc == nullptr || outputDesc == nullptr || inputs == nullptr || outputs == nullptr)
    {
        return -1;
    }
    Dims const& d = inputDesc[0].dims;
    if (d.nbDims != 4)
    {
        return -1;
    }
    MdsDataType const dtype = inputDesc[0].type == DataType::kHALF ? kMDS_FLOAT16 : kMDS_FLOAT32;
    cudaError_t const status = launchModulatedDeformSampling(inputs[0], inputs[1], inputs[2], outputs[0],
        static_cast<int32_t>(d.d[0]), static_cast<int32_t>(d.d[1]), static_cast<int32_t>(d.d[2]),
        static_cast<int32_t>(d.d[3]), mAttributes.groups, mAttributes.kernelSize, mAttributes.dilation,
        mAttributes.offsetScale, dtype, layoutOf(inputDesc[0].format), stream);
    if (status != cudaSuccess)
    {
        logMessage(ILogger::Severity::kERROR, std::string{"kernel launch failed: "} + mdsCudaErrorString(status));
        return -1;
    }
    return 0;
}

IPluginV3* ModulatedDeformSamplingPlugin::attachToContext(IPluginResourceContext* /*context*/) noexcept
{
    return clone(); // no per-context resources
}

PluginFieldCollection const* ModulatedDeformSamplingPlugin::getFieldsToSerialize() noexcept
{
    return &mFieldCollection;
}

} // namespace plugin
} // namespace edgecodec
