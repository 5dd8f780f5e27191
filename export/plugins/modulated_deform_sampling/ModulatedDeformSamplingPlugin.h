// TensorRT IPluginV3 plugin for modulated deformable sampling (op "ModulatedDeformSampling",
// namespace "edgecodec", version "1"). The CUDA work is done by launchModulatedDeformSampling
// (mds_kernel.cuh), which knows nothing about TensorRT.
//
// Written against the TensorRT 10.x/11.x IPluginV3 API (IPluginV3OneCore/Build/Runtime and
// IPluginCreatorV3One), available since TensorRT 10.0; compiled against the 10.3, 10.13 and
// 11.1 headers (see README.md). Build the library against the headers of the TensorRT version
// that will load it.
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <string>
#include <vector>

namespace edgecodec
{
namespace plugin
{

// Identity and attribute (plugin field) names; the attributes are the ONNX node's attributes.
inline constexpr char const* kMDS_PLUGIN_NAME{"ModulatedDeformSampling"};
inline constexpr char const* kMDS_PLUGIN_VERSION{"1"};
inline constexpr char const* kMDS_PLUGIN_NAMESPACE{"edgecodec"};
inline constexpr char const* kMDS_GROUPS{"groups"};
inline constexpr char const* kMDS_KERNEL_SIZE{"kernel_size"};
inline constexpr char const* kMDS_DILATION{"dilation"};
inline constexpr char const* kMDS_OFFSET_SCALE{"offset_scale"};

//! Log through the logger TensorRT passed to setLoggerFinder() (stderr for warnings and errors
//! when there is none). Never throws.
void logMessage(nvinfer1::ILogger::Severity severity, std::string const& message) noexcept;

//! Remember TensorRT's logger finder (the first non-null one).
void setLoggerFinderOnce(nvinfer1::ILoggerFinder* finder) noexcept;

//! Creation-time attributes, shared by the plugin and its creator.
struct MdsAttributes
{
    int32_t groups{1};
    int32_t kernelSize{3};
    int32_t dilation{1};
    float offsetScale{1.0F};
};

class ModulatedDeformSamplingPlugin final : public nvinfer1::IPluginV3,
                                            public nvinfer1::IPluginV3OneCore,
                                            public nvinfer1::IPluginV3OneBuild,
                                            public nvinfer1::IPluginV3OneRuntime
{
public:
    explicit ModulatedDeformSamplingPlugin(MdsAttributes const& attributes);
    ModulatedDeformSamplingPlugin(ModulatedDeformSamplingPlugin const& other);
    ModulatedDeformSamplingPlugin& operator=(ModulatedDeformSamplingPlugin const&) = delete;
    ~ModulatedDeformSamplingPlugin() override = default;

    // IPluginV3
    nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
    nvinfer1::IPluginV3* clone() noexcept override;

    // IPluginV3OneCore
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;

    // IPluginV3OneBuild
    int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
        nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override;
    int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const* shapeInputs,
        int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
        nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
        int32_t nbOutputs) noexcept override;
    int32_t getNbOutputs() const noexcept override;
    size_t getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;
    char const* getTimingCacheID() noexcept override;
    char const* getMetadataString() noexcept override;

    // IPluginV3OneRuntime
    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs, nvinfer1::PluginTensorDesc const* out,
        int32_t nbOutputs) noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
    nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override;

    MdsAttributes const& attributes() const noexcept
    {
        return mAttributes;
    }

private:
    void initFieldsToSerialize();

    MdsAttributes mAttributes;
    std::string mDescription; // attribute summary: timing-cache id and metadata
    std::vector<nvinfer1::PluginField> mFields;
    nvinfer1::PluginFieldCollection mFieldCollection{};
};

class ModulatedDeformSamplingPluginCreator final : public nvinfer1::IPluginCreatorV3One
{
public:
    ModulatedDeformSamplingPluginCreator();
    ~ModulatedDeformSamplingPluginCreator() override = default;

    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override;
    nvinfer1::IPluginV3* createPlugin(
        char const* name, nvinfer1::PluginFieldCollection const* fc, nvinfer1::TensorRTPhase phase) noexcept override;

private:
    std::vector<nvinfer1::PluginField> mFields;
    nvinfer1::PluginFieldCollection mFieldCollection{};
};

} // namespace plugin
} // namespace edgecodec

// TENSORRTAPI only exports symbols while TensorRT itself is built, so use our own attribute
// (the library is compiled with -fvisibility=hidden and a version script).
#if defined(_WIN32)
#define EDGECODEC_MDS_EXPORT __declspec(dllexport)
#else
#define EDGECODEC_MDS_EXPORT __attribute__((visibility("default")))
#endif

//! Plugin-library entry points looked up by IPluginRegistry::loadLibrary, trtexec --dynamicPlugins
//! and engines serialised with their plugin library (10.x and 11.x use these names).
extern "C" EDGECODEC_MDS_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators);
extern "C" EDGECODEC_MDS_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder);
