// API checks of the TensorRT plugin without TensorRT or a GPU (run by
// tests/export/test_plugin_kernel.py when TensorRT headers are available).
//
// Built with g++ from ModulatedDeformSamplingPlugin.cpp + mds_host.cpp + this file, against the
// TensorRT headers only: the plugin never calls into libnvinfer, and the CUDA launch is replaced
// by the CPU reference (host pointers), so enqueue() runs the kernel's code end to end.
#include "ModulatedDeformSamplingPlugin.h"
#include "mds_kernel.cuh"
#include "mds_math.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace nvinfer1;
using edgecodec::plugin::MdsAttributes;
using edgecodec::plugin::ModulatedDeformSamplingPlugin;

MdsStatus mdsHostForward(void const* value, void const* offset, void const* mask, void* out, int32_t N, int32_t C,
    int32_t H, int32_t W, int32_t groups, int32_t kernelSize, int32_t dilation, float offsetScale, MdsDataType dtype,
    MdsLayout layout);

// CPU stand-ins for the CUDA launch interface.
static int gLaunches = 0;
static MdsLayout gLastLayout = kMDS_NCHW;

cudaError_t launchModulatedDeformSampling(void const* value, void const* offset, void const* mask, void* out,
    int32_t N, int32_t C, int32_t H, int32_t W, int32_t groups, int32_t kernelSize, int32_t dilation,
    float offsetScale, MdsDataType dtype, MdsLayout layout, cudaStream_t /*stream*/)
{
    ++gLaunches;
    gLastLayout = layout;
    MdsStatus const s = mdsHostForward(
        value, offset, mask, out, N, C, H, W, groups, kernelSize, dilation, offsetScale, dtype, layout);
    return s == kMDS_OK ? cudaSuccess : cudaErrorInvalidValue;
}

char const* mdsCudaErrorString(cudaError_t /*status*/)
{
    return "(host stand-in)";
}

namespace
{

int gFailures = 0;

#define CHECK(cond)                                                                                                    \
    do                                                                                                                 \
    {                                                                                                                  \
        if (!(cond))                                                                                                   \
        {                                                                                                              \
            std::printf("FAILED line %d: %s\n", __LINE__, #cond);                                                     \
            ++gFailures;                                                                                               \
        }                                                                                                              \
    } while (0)

//! Never used for arithmetic: getOutputShapes must only forward the input expressions.
struct UnusedExprBuilder : IExprBuilder
{
};

Dims dims4(int64_t n, int64_t c, int64_t h, int64_t w)
{
    Dims d{};
    d.nbDims = 4;
    d.d[0] = n;
    d.d[1] = c;
    d.d[2] = h;
    d.d[3] = w;
    return d;
}

struct Fields
{
    int32_t groups, kernelSize, dilation;
    float scale;
    std::vector<PluginField> list;
    PluginFieldCollection fc{};
    Fields(int32_t g, int32_t k, int32_t d, float s)
        : groups(g), kernelSize(k), dilation(d), scale(s)
    {
        list = {PluginField{"groups", &groups, PluginFieldType::kINT32, 1},
            PluginField{"kernel_size", &kernelSize, PluginFieldType::kINT32, 1},
            PluginField{"dilation", &dilation, PluginFieldType::kINT32, 1},
            PluginField{"offset_scale", &scale, PluginFieldType::kFLOAT32, 1}};
        fc.nbFields = static_cast<int32_t>(list.size());
        fc.fields = list.data();
    }
};

bool sameAttributes(MdsAttributes const& a, MdsAttributes const& b)
{
    return a.groups == b.groups && a.kernelSize == b.kernelSize && a.dilation == b.dilation
        && a.offsetScale == b.offsetScale;
}

DynamicPluginTensorDesc desc(DataType type, TensorFormat format, Dims const& dims = Dims{})
{
    DynamicPluginTensorDesc d{};
    d.desc.type = type;
    d.desc.format = format;
    d.desc.dims = dims;
    d.min = d.max = d.opt = dims;
    return d;
}

void checkCreator(IPluginCreatorV3One& creator)
{
    CHECK(std::strcmp(creator.getInterfaceInfo().kind, "PLUGIN CREATOR_V3ONE") == 0);
    CHECK(std::strcmp(creator.getPluginName(), "ModulatedDeformSampling") == 0);
    CHECK(std::strcmp(creator.getPluginVersion(), "1") == 0);
    CHECK(std::strcmp(creator.getPluginNamespace(), "edgecodec") == 0);
    PluginFieldCollection const* names = creator.getFieldNames();
    CHECK(names != nullptr && names->nbFields == 4);
    char const* expected[] = {"groups", "kernel_size", "dilation", "offset_scale"};
    for (int i = 0; names != nullptr && i < 4; ++i)
    {
        CHECK(std::strcmp(names->fields[i].name, expected[i]) == 0);
    }
    CHECK(names->fields[3].type == PluginFieldType::kFLOAT32);

    // Attribute validation: bad values and malformed fields give nullptr; defaults apply.
    Fields bad(0, 3, 1, 1.0F);
    CHECK(creator.createPlugin("bad_groups", &bad.fc, TensorRTPhase::kBUILD) == nullptr);
    Fields big(1, 17, 1, 1.0F);
    CHECK(creator.createPlugin("bad_kernel", &big.fc, TensorRTPhase::kBUILD) == nullptr);
    Fields nan(1, 3, 1, NAN);
    CHECK(creator.createPlugin("bad_scale", &nan.fc, TensorRTPhase::kBUILD) == nullptr);
    Fields twice(2, 3, 1, 1.0F);
    twice.list[0].length = 2;
    CHECK(creator.createPlugin("bad_length", &twice.fc, TensorRTPhase::kBUILD) == nullptr);
    PluginFieldCollection empty{0, nullptr};
    std::unique_ptr<IPluginV3> defaults(creator.createPlugin("defaults", &empty, TensorRTPhase::kBUILD));
    CHECK(defaults && sameAttributes(static_cast<ModulatedDeformSamplingPlugin*>(defaults.get())->attributes(),
                          MdsAttributes{1, 3, 1, 1.0F}));
    // 64-bit integers and doubles are accepted (other exporters than TensorRT's ONNX parser).
    int64_t groups64 = 4;
    double scale64 = 0.25;
    PluginField wide[] = {PluginField{"groups", &groups64, PluginFieldType::kINT64, 1},
        PluginField{"offset_scale", &scale64, PluginFieldType::kFLOAT64, 1},
        PluginField{"plugin_version", "1", PluginFieldType::kCHAR, 1}};
    PluginFieldCollection wideFc{3, wide};
    std::unique_ptr<IPluginV3> widened(creator.createPlugin("wide", &wideFc, TensorRTPhase::kBUILD));
    CHECK(widened && sameAttributes(static_cast<ModulatedDeformSamplingPlugin*>(widened.get())->attributes(),
                         MdsAttributes{4, 3, 1, 0.25F}));
}

void checkBuild(IPluginV3OneBuild& build)
{
    CHECK(build.getNbOutputs() == 1);
    DataType in[3] = {DataType::kHALF, DataType::kHALF, DataType::kHALF};
    DataType out[1] = {DataType::kFLOAT};
    CHECK(build.getOutputDataTypes(out, 1, in, 3) == 0 && out[0] == DataType::kHALF);

    // Formats: fp32 linear, fp16 linear or HWC8; everything follows input 0.
    auto const F = DataType::kFLOAT, H = DataType::kHALF, I8 = DataType::kINT8;
    auto const L = TensorFormat::kLINEAR, C8 = TensorFormat::kHWC8, C32 = TensorFormat::kCHW32;
    DynamicPluginTensorDesc io[4];
    io[0] = desc(F, L);
    CHECK(build.supportsFormatCombination(0, io, 3, 1));
    io[0] = desc(H, L);
    CHECK(build.supportsFormatCombination(0, io, 3, 1));
    io[0] = desc(H, C8);
    CHECK(build.supportsFormatCombination(0, io, 3, 1));
    io[0] = desc(F, C8);
    CHECK(!build.supportsFormatCombination(0, io, 3, 1));
    io[0] = desc(I8, L);
    CHECK(!build.supportsFormatCombination(0, io, 3, 1));
    io[0] = desc(H, C32);
    CHECK(!build.supportsFormatCombination(0, io, 3, 1));
    io[0] = desc(H, C8);
    for (int pos = 1; pos < 4; ++pos)
    {
        io[pos] = desc(H, C8);
        CHECK(build.supportsFormatCombination(pos, io, 3, 1));
        io[pos] = desc(H, L);
        CHECK(!build.supportsFormatCombination(pos, io, 3, 1));
        io[pos] = desc(F, C8);
        CHECK(!build.supportsFormatCombination(pos, io, 3, 1));
    }
    CHECK(!build.supportsFormatCombination(4, io, 3, 1));

    // Output shape: the value tensor's expressions, unchanged.
    DimsExprs shapes[3];
    for (int t = 0; t < 3; ++t)
    {
        shapes[t].nbDims = 4;
        for (int a = 0; a < 4; ++a)
        {
            shapes[t].d[a] = reinterpret_cast<IDimensionExpr const*>(static_cast<uintptr_t>(0x1000 * (t + 1) + 8 * a));
        }
    }
    DimsExprs outShape{};
    UnusedExprBuilder builder;
    CHECK(build.getOutputShapes(shapes, 3, nullptr, 0, &outShape, 1, builder) == 0);
    CHECK(outShape.nbDims == 4);
    for (int a = 0; a < 4; ++a)
    {
        CHECK(outShape.d[a] == shapes[0].d[a]);
    }

    // configurePlugin validates channel counts; unknown (-1) dimensions pass.
    DynamicPluginTensorDesc cfg[3] = {desc(H, L, dims4(-1, 16, -1, -1)), desc(H, L, dims4(-1, 36, -1, -1)),
        desc(H, L, dims4(-1, 18, -1, -1))};
    DynamicPluginTensorDesc outDesc = desc(H, L, dims4(-1, 16, -1, -1));
    CHECK(build.configurePlugin(cfg, 3, &outDesc, 1) == 0);
    cfg[1].desc.dims.d[1] = 35;
    CHECK(build.configurePlugin(cfg, 3, &outDesc, 1) != 0);
    cfg[1].desc.dims.d[1] = 36;
    cfg[0].desc.dims.d[1] = 15;
    CHECK(build.configurePlugin(cfg, 3, &outDesc, 1) != 0);
    cfg[0].desc.dims.d[1] = 16;
    cfg[2].desc.dims = dims4(2, 18, 5, 7);
    cfg[0].desc.dims = dims4(2, 16, 5, 8);
    CHECK(build.configurePlugin(cfg, 3, &outDesc, 1) != 0);
    CHECK(build.getWorkspaceSize(cfg, 3, &outDesc, 1) == 0);
    CHECK(build.getTimingCacheID() != nullptr && std::strstr(build.getTimingCacheID(), "groups=2") != nullptr);
}

//! enqueue() through the CPU stand-in equals a direct call of the reference.
template <typename T>
void checkEnqueue(IPluginV3OneRuntime& runtime, DataType type, TensorFormat format, MdsDataType dtype, MdsLayout layout)
{
    int32_t const N = 2, C = 16, H = 5, W = 7, G = 2, K = 9;
    Dims const dv = dims4(N, C, H, W), doff = dims4(N, 2 * G * K, H, W), dm = dims4(N, G * K, H, W);
    auto elems = [&](int32_t c) { return static_cast<size_t>(mdsTensorElems(layout, N, c, H, W)); };
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0F, 1.5F);
    auto fill = [&](std::vector<T>& v) {
        for (auto& x : v)
        {
            x = mdsFromFloat<T>(normal(rng));
        }
    };
    std::vector<T> value(elems(C)), offset(elems(2 * G * K)), mask(elems(G * K)), out(elems(C)), want(elems(C));
    fill(value);
    fill(offset);
    fill(mask);
    PluginTensorDesc in[3] = {{dv, type, format, 1.0F}, {doff, type, format, 1.0F}, {dm, type, format, 1.0F}};
    PluginTensorDesc outDesc{dv, type, format, 1.0F};
    CHECK(runtime.onShapeChange(in, 3, &outDesc, 1) == 0);
    void const* inputs[3] = {value.data(), offset.data(), mask.data()};
    void* outputs[1] = {out.data()};
    int const before = gLaunches;
    CHECK(runtime.enqueue(in, &outDesc, inputs, outputs, nullptr, nullptr) == 0);
    CHECK(gLaunches == before + 1 && gLastLayout == layout);
    CHECK(mdsHostForward(value.data(), offset.data(), mask.data(), want.data(), N, C, H, W, G, 3, 2, 0.5F, dtype,
              layout)
        == kMDS_OK);
    CHECK(std::memcmp(out.data(), want.data(), out.size() * sizeof(T)) == 0);
    bool nonzero = false;
    for (auto const& x : out)
    {
        nonzero = nonzero || mdsToFloat(x) != 0.0F;
    }
    CHECK(nonzero);
    // A mask with the wrong channel count is refused before any launch.
    in[2].dims.d[1] = G * K + 1;
    CHECK(runtime.onShapeChange(in, 3, &outDesc, 1) != 0);
}

void checkPlugin(IPluginCreatorV3One& creator)
{
    Fields fields(2, 3, 2, 0.5F);
    std::unique_ptr<IPluginV3> plugin(creator.createPlugin("mds0", &fields.fc, TensorRTPhase::kBUILD));
    CHECK(plugin != nullptr);
    if (!plugin)
    {
        return;
    }
    auto* core = static_cast<IPluginV3OneCore*>(plugin->getCapabilityInterface(PluginCapabilityType::kCORE));
    auto* build = static_cast<IPluginV3OneBuild*>(plugin->getCapabilityInterface(PluginCapabilityType::kBUILD));
    auto* runtime = static_cast<IPluginV3OneRuntime*>(plugin->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    CHECK(core && build && runtime);
    CHECK(std::strcmp(core->getInterfaceInfo().kind, "PLUGIN_V3ONE_CORE") == 0);
    CHECK(std::strcmp(build->getInterfaceInfo().kind, "PLUGIN_V3ONE_BUILD") == 0);
    CHECK(std::strcmp(runtime->getInterfaceInfo().kind, "PLUGIN_V3ONE_RUNTIME") == 0);
    CHECK(std::strcmp(core->getPluginName(), "ModulatedDeformSampling") == 0);
    CHECK(std::strcmp(core->getPluginNamespace(), "edgecodec") == 0);
    checkBuild(*build);

    // Serialisation round trip: the runtime-phase plugin has the same attributes.
    PluginFieldCollection const* saved = runtime->getFieldsToSerialize();
    CHECK(saved != nullptr && saved->nbFields == 4);
    std::unique_ptr<IPluginV3> restored(creator.createPlugin("mds0", saved, TensorRTPhase::kRUNTIME));
    MdsAttributes const want{2, 3, 2, 0.5F};
    CHECK(restored && sameAttributes(static_cast<ModulatedDeformSamplingPlugin*>(restored.get())->attributes(), want));

    // Clones own their serialisation fields (no pointers into the original).
    std::unique_ptr<IPluginV3> cloned(plugin->clone());
    std::unique_ptr<IPluginV3> attached(runtime->attachToContext(nullptr));
    for (IPluginV3* copy : {cloned.get(), attached.get()})
    {
        CHECK(copy != nullptr && copy != plugin.get());
        auto* copyRuntime
            = static_cast<IPluginV3OneRuntime*>(copy->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
        PluginFieldCollection const* f = copyRuntime->getFieldsToSerialize();
        CHECK(f->fields[0].data != saved->fields[0].data);
        CHECK(*static_cast<int32_t const*>(f->fields[0].data) == 2);
    }
    plugin.reset(); // the copies must survive their original
    auto* rt = static_cast<IPluginV3OneRuntime*>(attached->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    checkEnqueue<float>(*rt, DataType::kFLOAT, TensorFormat::kLINEAR, kMDS_FLOAT32, kMDS_NCHW);
    checkEnqueue<MdsHalf>(*rt, DataType::kHALF, TensorFormat::kLINEAR, kMDS_FLOAT16, kMDS_NCHW);
    checkEnqueue<MdsHalf>(*rt, DataType::kHALF, TensorFormat::kHWC8, kMDS_FLOAT16, kMDS_NHWC8);
}

} // namespace

int main()
{
    std::printf("TensorRT headers %d.%d.%d\n", NV_TENSORRT_MAJOR, NV_TENSORRT_MINOR, NV_TENSORRT_PATCH);
    int32_t nb = 0;
    IPluginCreatorInterface* const* creators = getCreators(nb);
    CHECK(nb == 1 && creators != nullptr && creators[0] != nullptr);
    if (nb == 1 && creators != nullptr && creators[0] != nullptr)
    {
        auto* creator = static_cast<IPluginCreatorV3One*>(creators[0]);
        checkCreator(*creator);
        checkPlugin(*creator);
    }
    if (gFailures != 0)
    {
        std::printf("%d plugin check(s) failed\n", gFailures);
        return 1;
    }
    std::printf("all plugin checks passed\n");
    return 0;
}
