// The opencl target in a Kiln built without OpenCL (cmake -DKILN_OPENCL=OFF): this file replaces
// OpenclDevice.cpp and OpenclTarget.cpp. No device can be opened, so a Session asked for target
// "opencl" fails with one line; everything that needs an open device is unreachable.
#include "runtime/OpenclDevice.h"
#include "runtime/OpenclTarget.h"

#include "ir/Error.h"

namespace kiln {

struct ClDevice {};

namespace {
[[noreturn]] void unreachable() {
  throw InternalError("internal error: an OpenCL object exists in a Kiln built without OpenCL");
}
} // namespace

std::unique_ptr<OpenclDevice> OpenclDevice::open(const std::string &) {
  throw Error("target opencl: not built into this Kiln (configured with KILN_OPENCL=OFF)");
}
OpenclDevice::~OpenclDevice() = default;
const std::string &OpenclDevice::name() const { unreachable(); }
const std::string &OpenclDevice::key() const { unreachable(); }
bool OpenclDevice::is_gpu() const { unreachable(); }
int OpenclDevice::compute_units() const { unreachable(); }
std::vector<std::string> list_opencl_devices() { return {}; }

std::unique_ptr<OpenclProgram> OpenclProgram::from_source(OpenclDevice &, const std::string &) {
  unreachable();
}
std::unique_ptr<OpenclProgram> OpenclProgram::from_binary(OpenclDevice &,
                                                          std::span<const uint8_t>) {
  unreachable();
}
OpenclProgram::~OpenclProgram() = default;
std::vector<uint8_t> OpenclProgram::binary() const { unreachable(); }
std::string cl_error_name(int code) { return "OpenCL error " + std::to_string(code); }

struct OpenclRunner::Impl {};
OpenclRunner::~OpenclRunner() = default;
void OpenclRunner::run(const void *const *, void *const *, double *) { unreachable(); }

OpenclBackend::OpenclBackend(OpenclDevice &dev) : OpenclBackend(dev, false) {}
OpenclBackend::OpenclBackend(OpenclDevice &dev, bool gpu_tiles) : dev_(dev), gpu_tiles_(gpu_tiles) {
  unreachable();
}
OpenclBackend::~OpenclBackend() = default;
LoweringTarget OpenclBackend::lowering_target() const { unreachable(); }
CompiledModule OpenclBackend::compile(const std::vector<Kernel> &) { unreachable(); }
std::unique_ptr<LoadedModule> OpenclBackend::load(const CompiledModule &) { unreachable(); }

OpenclCompiled opencl_capture(OpenclBackend &, const CompileResult &) { unreachable(); }
std::unique_ptr<OpenclRunner> opencl_load(OpenclBackend &, const CompiledSchedule &,
                                          const std::string &) {
  unreachable();
}

} // namespace kiln
