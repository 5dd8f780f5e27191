// TensorRT plugin creator (IPluginCreatorV3One) for edgecodec::ModulatedDeformSampling, the
// attribute parsing, the logger and the plugin-library entry points (getCreators,
// setLoggerFinder).
#include "ModulatedDeformSamplingPlugin.h"

#include "mds_plan.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>

using namespace nvinfer1;

namespace edgecodec
{
namespace plugin
{
namespace
{

// -- logging ----------------------------------------------------------------------------------

std::mutex gLoggerMutex;
ILoggerFinder* gLoggerFinder{nullptr}; // set by TensorRT through setLoggerFinder()

} // namespace

void setLoggerFinderOnce(ILoggerFinder* finder) noexcept
{
    std::lock_guard<std::mutex> lock(gLoggerMutex);
    if (gLoggerFinder == nullptr && finder != nullptr)
    {
        gLoggerFinder = finder;
    }
}

void logMessage(ILogger::Severity severity, std::string const& message) noexcept
{
    try
    {
        std::string const text = std::string{kMDS_PLUGIN_NAMESPACE} + "::" + kMDS_PLUGIN_NAME + ": " + message;
        ILogger* logger{nullptr};
        {
            std::lock_guard<std::mutex> lock(gLoggerMutex);
            logger = gLoggerFinder != nullptr ? gLoggerFinder->findLogger() : nullptr;
        }
        if (logger != nullptr)
        {
            logger->log(severity, text.c_str());
        }
        else if (severity <= ILogger::Severity::kWARNING)
        {
            std::fprintf(stderr, "%s\n", text.c_str()); // no TensorRT logger (e.g. plugin_check)
        }
    }
    catch (...)
    {
    }
}

namespace
{

// -- attributes -------------------------------------------------------------------------------

bool readInt(PluginField const& field, int32_t& out)
{
    if (field.data == nullptr || field.length != 1)
    {
        return false;
    }
    switch (field.type)
    {
    case PluginFieldType::kINT8: out = *static_cast<int8_t const*>(field.data); return true;
    case PluginFieldType::kINT16: out = *static_cast<int16_t const*>(field.data); return true;
    case PluginFieldType::kINT32: out = *static_cast<int32_t const*>(field.data); return true;
    case PluginFieldType::kINT64:
    {
        int64_t const v = *static_cast<int64_t const*>(field.data);
        out = static_cast<int32_t>(v);
        return v == out;
    }
    default: return false;
    }
}

bool readFloat(PluginField const& field, float& out)
{
    if (field.data == nullptr || field.length != 1)
    {
        return false;
    }
    switch (field.type)
    {
    case PluginFieldType::kFLOAT32: out = *static_cast<float const*>(field.data); return true;
    case PluginFieldType::kFLOAT64: out = static_cast<float>(*static_cast<double const*>(field.data)); return true;
    default: return false;
    }
}

//! Parse a field collection (ONNX attributes at build time, getFieldsToSerialize() at runtime).
//! Absent attributes keep their defaults; unknown ones are ignored with a warning.
bool parseAttributes(PluginFieldCollection const* fc, MdsAttributes& attrs, std::string& why)
{
    for (int32_t i = 0; fc != nullptr && i < fc->nbFields; ++i)
    {
        PluginField const& f = fc->fields[i];
        char const* const name = f.name != nullptr ? f.name : "";
        bool ok = true;
        if (std::strcmp(name, kMDS_GROUPS) == 0)
        {
            ok = readInt(f, attrs.groups);
        }
        else if (std::strcmp(name, kMDS_KERNEL_SIZE) == 0)
        {
            ok = readInt(f, attrs.kernelSize);
        }
        else if (std::strcmp(name, kMDS_DILATION) == 0)
        {
            ok = readInt(f, attrs.dilation);
        }
        else if (std::strcmp(name, kMDS_OFFSET_SCALE) == 0)
        {
            ok = readFloat(f, attrs.offsetScale);
        }
        else
        {
            logMessage(ILogger::Severity::kWARNING, std::string{"ignoring unknown attribute '"} + name + "'");
        }
        if (!ok)
        {
            why = std::string{"attribute '"} + name + "' must be one scalar (integer; float for offset_scale)";
            return false;
        }
    }
    if (attrs.groups < 1 || attrs.kernelSize < 1 || attrs.kernelSize > kMdsMaxKernelSize || attrs.dilation < 1
        || !std::isfinite(attrs.offsetScale))
    {
        why = mdsStatusString(kMDS_BAD_ATTRIBUTE);
        return false;
    }
    return true;
}

} // namespace

// =============================================================================================
// ModulatedDeformSamplingPluginCreator
// =============================================================================================

ModulatedDeformSamplingPluginCreator::ModulatedDeformSamplingPluginCreator()
{
    mFields = {PluginField{kMDS_GROUPS, nullptr, PluginFieldType::kINT32, 1},
        PluginField{kMDS_KERNEL_SIZE, nullptr, PluginFieldType::kINT32, 1},
        PluginField{kMDS_DILATION, nullptr, PluginFieldType::kINT32, 1},
        PluginField{kMDS_OFFSET_SCALE, nullptr, PluginFieldType::kFLOAT32, 1}};
    mFieldCollection.nbFields = static_cast<int32_t>(mFields.size());
    mFieldCollection.fields = mFields.data();
}

char const* ModulatedDeformSamplingPluginCreator::getPluginName() const noexcept
{
    return kMDS_PLUGIN_NAME;
}

char const* ModulatedDeformSamplingPluginCreator::getPluginVersion() const noexcept
{
    return kMDS_PLUGIN_VERSION;
}

char const* ModulatedDeformSamplingPluginCreator::getPluginNamespace() const noexcept
{
    return kMDS_PLUGIN_NAMESPACE;
}

PluginFieldCollection const* ModulatedDeformSamplingPluginCreator::getFieldNames() noexcept
{
    return &mFieldCollection;
}

IPluginV3* ModulatedDeformSamplingPluginCreator::createPlugin(
    char const* name, PluginFieldCollection const* fc, TensorRTPhase /*phase*/) noexcept
{
    // Build phase: fc holds the ONNX node's attributes. Runtime phase: fc is what
    // getFieldsToSerialize() returned. Both are parsed the same way.
    try
    {
        MdsAttributes attrs;
        std::string why;
        if (!parseAttributes(fc, attrs, why))
        {
            std::string const layer{name != nullptr ? name : ""};
            logMessage(ILogger::Severity::kERROR, "cannot create layer '" + layer + "': " + why);
            return nullptr;
        }
        return new ModulatedDeformSamplingPlugin(attrs);
    }
    catch (std::exception const& e)
    {
        logMessage(ILogger::Severity::kERROR, std::string{"createPlugin failed: "} + e.what());
    }
    return nullptr;
}

} // namespace plugin
} // namespace edgecodec

// =============================================================================================
// Library entry points
// =============================================================================================

extern "C" EDGECODEC_MDS_EXPORT IPluginCreatorInterface* const* getCreators(int32_t& nbCreators)
{
    static edgecodec::plugin::ModulatedDeformSamplingPluginCreator sCreator;
    static IPluginCreatorInterface* const kCreators[] = {&sCreator};
    nbCreators = 1;
    return kCreators;
}

extern "C" EDGECODEC_MDS_EXPORT void setLoggerFinder(ILoggerFinder* finder)
{
    edgecodec::plugin::setLoggerFinderOnce(finder);
}

#if defined(EDGECODEC_MDS_STATIC_REGISTRATION)
// Opt-in (CMake option EDGECODEC_MDS_STATIC_REGISTRATION, links libnvinfer): register the creator
// when the library is loaded, for loaders that only dlopen it (trtexec --staticPlugins, ctypes).
// Do not combine with IPluginRegistry::loadLibrary / --dynamicPlugins: the creator would already
// be registered and loadLibrary fails.
namespace
{
struct StaticRegistration
{
    StaticRegistration()
    {
        static edgecodec::plugin::ModulatedDeformSamplingPluginCreator sCreator;
        getPluginRegistry()->registerCreator(sCreator, edgecodec::plugin::kMDS_PLUGIN_NAMESPACE);
    }
} const gStaticRegistration;
} // namespace
#endif
